// Standard AWS configuration, honestly reported: S3 path style follows the endpoint the SDK resolves (a profile's
// endpoint_url too), a tag read that AWS never answered is "could not read tags", and no region says so.
import { CreateBucketCommand, GetBucketTaggingCommand, PutBucketTaggingCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configuredS3Endpoint, s3PathStyle } from '../src/aws/endpoint.js';
import { launchTagged } from '../src/demo/seed.js';
import { admin, call, connect, fresh, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
const saved = { ...process.env };
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});

/** A shared config file with one profile, and the environment that selects it instead of AWS_ENDPOINT_URL. */
function useProfile(lines: string[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'warden-awscfg-'));
  writeFileSync(join(dir, 'config'), ['[profile warden-test]', ...lines, ''].join('\n'));
  process.env.AWS_CONFIG_FILE = join(dir, 'config');
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials');
  writeFileSync(join(dir, 'credentials'), '[warden-test]\naws_access_key_id = testing\naws_secret_access_key = testing\n');
  process.env.AWS_PROFILE = 'warden-test';
  for (const k of ['AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) delete process.env[k];
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('S3 path style follows the resolved endpoint', () => {
  it("a profile's endpoint_url (no environment variable) gives path style: the agent's bucket calls reach it", async () => {
    // By name, not by IP: S3's endpoint rules use path style for an IP on their own, never for a host name.
    const moto = (saved.AWS_ENDPOINT_URL as string).replace('127.0.0.1', 'localhost');
    const w = world();
    const bucket = fresh('pathstyle');
    await admin.s3().send(new CreateBucketCommand({ Bucket: bucket }));
    await admin.s3().send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: [{ Key: 'ProjectId', Value: w.project }] } }));
    useProfile(['region = us-east-1', `endpoint_url = ${moto}`]);
    expect(await configuredS3Endpoint()).toBe(moto);
    expect(await s3PathStyle()).toBe(true);
    // Virtual-hosted style would ask DNS for <bucket>.localhost; path style reaches the emulator.
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const r = await call(h.client, 'tag_resource', { resource_arn: `arn:aws:s3:::${bucket}`, set: { Owner: 'web' } });
    expect(r.text).not.toMatch(/ENOTFOUND|cannot be read/);
    expect(r.isError).toBeFalsy();
    const tags = await admin.s3().send(new GetBucketTaggingCommand({ Bucket: bucket }));
    expect(tags.TagSet).toContainEqual({ Key: 'Owner', Value: 'web' });
  });

  it("a profile's services section names the S3 endpoint; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns it off", async () => {
    useProfile(['region = us-east-1', 'services = local', '', '[services local]', 's3 =', '  endpoint_url = http://127.0.0.1:1']);
    expect(await configuredS3Endpoint()).toBe('http://127.0.0.1:1');
    process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = 'true';
    expect(await s3PathStyle()).toBe(false);
  });

  it('AWS itself (no endpoint anywhere) keeps virtual-hosted style', async () => {
    useProfile(['region = us-east-1']);
    delete process.env.AWS_ENDPOINT_URL_S3;
    expect(await s3PathStyle()).toBe(false);
  });
});

describe('configuration errors say what they are', () => {
  it('a tag read AWS never answered is "could not read tags", a refusal that is not about ownership', async () => {
    const w = world();
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.project });
    const h = await connect(w.policy, w.agent);
    open.push(h);
    process.env.AWS_ENDPOINT_URL_EC2 = `http://127.0.0.1:${await closedPort()}`;
    const r = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'web' } });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/could not read tags: .*ECONNREFUSED/);
    expect(r.text).toMatch(/not a question of ownership; retry when AWS answers/);
    expect(r.text).not.toMatch(/not treated as owned/);
    expect(h.writes()).toEqual([]);
  });

  it('no region anywhere: "no AWS region configured", not a problem with the role', async () => {
    const w = world();
    useProfile([]);
    process.env.AWS_ENDPOINT_URL = saved.AWS_ENDPOINT_URL;
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const r = await call(h.client, 'list_resources', {});
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/no AWS region configured \(set AWS_REGION or a profile region\)/);
    expect(r.text).toMatch(/fix the server's AWS configuration/);
    expect(r.text).not.toMatch(/agent's role/);
  });
});
