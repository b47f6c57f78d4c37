// What a deploy uploads is exactly what its plan hashed: a file changed, or swapped for a symlink, after planning is
// never uploaded, and when one upload of a batch fails every version the others wrote is rolled back.
import { GetObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bucketName } from '../src/sites/bucket.js';
import { allTools } from '../src/tools/index.js';
import type { ToolSpec } from '../src/tools/tool.js';
import { ACCOUNT, admin, call, connect, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

/** A world whose deploy tool runs `between` after planning and before executing (a file swapped under it). */
async function setup(between: () => void) {
  const root = mkdtempSync(join(tmpdir(), 'warden-bind-'));
  const w = world({
    projectYaml: `    sites: { roots: ["${root}"], max_files: 100, max_total_mb: 100, health_timeout_seconds: 2, soak_minutes: 0 }`,
  });
  const real = allTools.find((t) => t.name === 'deploy_static_site') as ToolSpec;
  let armed = false;
  const spec: ToolSpec = {
    ...real,
    async execute(plan, args, ctx) {
      if (armed) between();
      return real.execute(plan, args, ctx);
    },
  };
  const h = await connect(w.policy, w.agent, { tools: allTools.map((t) => (t.name === spec.name ? spec : t)) });
  open.push(h);
  const dir = join(root, 'site');
  const write = (files: Record<string, string | Buffer>) => {
    for (const [rel, b] of Object.entries(files)) {
      mkdirSync(join(dir, rel, '..'), { recursive: true });
      rmSync(join(dir, rel), { force: true });
      writeFileSync(join(dir, rel), b);
    }
  };
  const deploy = () => call(h.client, 'deploy_static_site', { site: 'shop', source_dir: dir, environment: 'staging' });
  return { w, h, root, dir, write, deploy, arm: () => (armed = true), bucket: bucketName(ACCOUNT, w.project, 'shop', 'staging') };
}

const text = async (bucket: string, key: string) =>
  (await admin.s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToString();
const versions = async (bucket: string) =>
  ((await admin.s3().send(new ListObjectVersionsCommand({ Bucket: bucket }))).Versions ?? []).length;

describe('content binding', () => {
  it('one file of a batch changed after planning: no upload of it, and every other version of the batch is rolled back', async () => {
    const s: Awaited<ReturnType<typeof setup>> = await setup(() => s.write({ 'b.css': 'body{color:red} /* changed after planning */' }));
    s.write({ 'index.html': 'v1', 'a.js': 'v1', 'b.css': 'v1' });
    expect((await s.deploy()).isError).toBeFalsy();
    const before = await versions(s.bucket);
    s.write({ 'index.html': 'v2', 'a.js': 'v2', 'b.css': 'v2' });
    s.arm();
    const r = await s.deploy();
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/b\.css changed since the deploy was planned; not uploaded/);
    expect(r.text).toMatch(/rolled back/);
    for (const key of ['index.html', 'a.js', 'b.css']) expect(await text(s.bucket, key), key).toBe('v1');
    // Nothing of v2 stays behind: the versions the batch wrote were deleted again.
    expect(await versions(s.bucket)).toBe(before);
  });

  it(
    'a large file (multipart) swapped after planning is not uploaded: its stream fails before the upload completes',
    { timeout: 60_000 },
    async () => {
      const big = Buffer.alloc(17 * 2 ** 20, 1);
      const s: Awaited<ReturnType<typeof setup>> = await setup(() => s.write({ 'big.bin': Buffer.alloc(17 * 2 ** 20, 2) }));
      s.write({ 'index.html': 'v1', 'big.bin': big });
      s.arm();
      const r = await s.deploy();
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(/big\.bin changed since the deploy was planned \(sha256 .*, planned .*\); not uploaded/);
      const listed = (await admin.s3().send(new ListObjectVersionsCommand({ Bucket: s.bucket }))).Versions ?? [];
      expect(listed.filter((v) => v.Key === 'big.bin')).toEqual([]);
    },
  );

  it('a file swapped for a symlink out of the root after planning is refused, not followed', async () => {
    const outside = join(mkdtempSync(join(tmpdir(), 'warden-secret-')), 'secret.txt');
    writeFileSync(outside, 'v1');
    const s: Awaited<ReturnType<typeof setup>> = await setup(() => {
      rmSync(join(s.dir, 'a.js'));
      symlinkSync(outside, join(s.dir, 'a.js'));
    });
    s.write({ 'index.html': 'v1', 'a.js': 'v1' });
    s.arm();
    const r = await s.deploy();
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/a\.js cannot be read as planned \(ELOOP\); not uploaded/);
    const listed = (await admin.s3().send(new ListObjectVersionsCommand({ Bucket: s.bucket }))).Versions ?? [];
    expect(listed.filter((v) => v.Key === 'a.js')).toEqual([]);
  });
});
