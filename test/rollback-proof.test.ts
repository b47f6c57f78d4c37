// A deploy's rollback is said only when it is proven, S3 is sent the plan's checksums, and a new bucket is never left
// without its ownership tags — each shown through a fault proxy in front of moto that records and fails requests.
import { GetBucketTaggingCommand, HeadBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bucketName } from '../src/sites/bucket.js';
import { ACCOUNT, admin, call, connect, fresh, world, type Harness } from './helpers/harness.js';
import { s3Operation, useFaultProxy } from './helpers/fault-proxy.js';

const proxyOf = useFaultProxy('S3');
const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function siteWorld(healthUrl?: string) {
  const root = mkdtempSync(join(tmpdir(), 'warden-proof-'));
  const w = world({
    projectYaml: `    sites: { roots: ["${root}"], health_timeout_seconds: 1, soak_minutes: 0${healthUrl ? `, health_url: "${healthUrl}"` : ''} }`,
  });
  const h = await connect(w.policy, w.agent);
  open.push(h);
  const dir = join(root, 'site');
  mkdirSync(dir);
  const write = (files: Record<string, string | Buffer>) => {
    for (const [rel, b] of Object.entries(files)) writeFileSync(join(dir, rel), b);
  };
  const site = fresh('s').slice(0, 12);
  const deploy = () => call(h.client, 'deploy_static_site', { site, source_dir: dir, environment: 'staging' });
  return { w, h, write, deploy, bucket: bucketName(ACCOUNT, w.project, site, 'staging') };
}

const live = async (bucket: string, key: string) => (await admin.s3().send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).VersionId;

describe('rollback only when proven', () => {
  it('every object is sent with the plan’s SHA-256 for S3 to check (parts of a large one with their own)', async () => {
    const s = await siteWorld();
    const big = Buffer.alloc(17 * 2 ** 20, 5);
    s.write({ 'index.html': '<h1>sum</h1>', 'big.bin': big });
    const from = proxyOf().seen.length;
    expect((await s.deploy()).isError).toBeFalsy();
    const sent = proxyOf()
      .seen.slice(from)
      .filter((r) => r.path.startsWith(`/${s.bucket}/`));
    const put = sent.find((r) => s3Operation(r) === 'PutObject' && r.path.endsWith('/index.html'));
    expect(put?.headers['x-amz-checksum-sha256']).toBe(createHash('sha256').update('<h1>sum</h1>').digest('base64'));
    const parts = sent.filter((r) => s3Operation(r) === 'UploadPart');
    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const p of parts) expect(p.headers['x-amz-checksum-sha256']).toBe(createHash('sha256').update(p.body).digest('base64'));
  });

  it('a rollback that cannot delete a version says exactly what is left, fails, and tells a human', async () => {
    const s = await siteWorld('http://127.0.0.1:9/down');
    s.write({ 'index.html': 'v1', 'a.js': 'v1' });
    const first = await s.deploy();
    expect(first.text).toMatch(/rolled back: every key was read back at its previous version/);
    // Second attempt: the health check fails again, and S3 refuses to delete the new version of a.js.
    proxyOf().rule = (r) =>
      s3Operation(r) === 'DeleteObjectVersion' && r.path === `/${s.bucket}/a.js` ? { status: 403, code: 'AccessDenied' } : 'pass';
    s.write({ 'index.html': 'v2', 'a.js': 'v2' });
    const r = await s.deploy();
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      /the rollback is INCOMPLETE — 1 key\(s\) of .* are not at their previous version: a\.js \(deleting version .* failed \(AccessDenied/,
    );
    expect(r.text).not.toMatch(/nothing changed/);
    const rows = s.h.store.audit.tail({ limit: 2 });
    expect(rows.map((e) => e.kind)).toEqual(['approved', 'failed']);
    expect(s.h.store.notifications.list().some((n) => n.kind === 'failed' && /a\.js/.test(n.body))).toBe(true);
    // index.html was put back; a.js is not, and the answer said so.
    await expect(live(s.bucket, 'index.html')).rejects.toThrow();
    expect(await live(s.bucket, 'a.js')).toBeTruthy();
  });

  it('a new bucket whose tagging fails is deleted, not left untagged; the create call carried the tags', async () => {
    const s = await siteWorld();
    s.write({ 'index.html': 'hi' });
    const from = proxyOf().seen.length;
    proxyOf().rule = (r) =>
      s3Operation(r) === 'PutBucketTagging' && r.path === `/${s.bucket}` ? { status: 403, code: 'AccessDenied' } : 'pass';
    const r = await s.deploy();
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      /s3:PutBucketTagging failed \(AccessDenied.*; the new bucket .* had no ownership tags, so it was deleted — nothing is left/,
    );
    const create = proxyOf()
      .seen.slice(from)
      .find((x) => s3Operation(x) === 'CreateBucket' && x.path === `/${s.bucket}`);
    expect(create?.body.toString()).toMatch(new RegExp(`<Tag><Key>ProjectId</Key><Value>${s.w.project}</Value></Tag>`));
    await expect(admin.s3().send(new HeadBucketCommand({ Bucket: s.bucket }))).rejects.toThrow();
  });

  it('a new bucket whose tagging fails and which cannot be deleted is named to a human', async () => {
    const s = await siteWorld();
    s.write({ 'index.html': 'hi' });
    proxyOf().rule = (r) =>
      ['PutBucketTagging', 'DeleteBucket'].includes(s3Operation(r)) && r.path === `/${s.bucket}`
        ? { status: 403, code: 'AccessDenied' }
        : 'pass';
    const r = await s.deploy();
    expect(r.text).toMatch(/has no ownership tags and could not be deleted \(AccessDenied.*A human has been notified and must delete it/);
    expect(s.h.store.notifications.list().some((n) => n.kind === 'failed' && n.body.includes(s.bucket))).toBe(true);
    await expect(admin.s3().send(new GetBucketTaggingCommand({ Bucket: s.bucket }))).rejects.toThrow();
  });
});
