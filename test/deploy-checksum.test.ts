// A deploy is checked by the checksum S3 computes and reports for each object it stored, against the plan's SHA-256
// (for a large file, the SHA-256 of its parts' SHA-256s, computed in planning's one read): nothing is downloaded again,
// except an object S3 reported no checksum for. A reported checksum that is not the plan's rolls the deploy back.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MULTIPART_BYTES, PART_BYTES, PartHasher } from '../src/sites/parts.js';
import { Store } from '../src/store/store.js';
import { s3Operation, useFaultProxy } from './helpers/fault-proxy.js';
import { call, connect, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const proxyOf = useFaultProxy('S3');

/** A site of small files and, when asked, one file large enough to go up in parts. */
async function site(opts: { big?: boolean } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'warden-checksum-'));
  const dir = join(root, 'site');
  mkdirSync(dir);
  writeFileSync(join(dir, 'index.html'), '<h1>shop</h1>');
  writeFileSync(join(dir, 'app.js'), 'console.log(1)');
  if (opts.big) writeFileSync(join(dir, 'big.bin'), Buffer.alloc(MULTIPART_BYTES + PART_BYTES + 12_345, 7));
  const w = world({
    projectYaml: `    sites: { roots: ["${root}"], max_files: 100, max_total_mb: 100, cache_control: "public, max-age=60", health_timeout_seconds: 2, soak_minutes: 30, prod_requires_approval: false }`,
  });
  const h = await connect(w.policy, w.agent, { store: Store.open(':memory:') });
  open.push(h);
  return { h, dir };
}

type Health = { check: string; ok: boolean; detail: string }[];
const deploy = async (h: Harness, dir: string) => {
  const r = await call(h.client, 'deploy_static_site', { site: 'shop', source_dir: dir, environment: 'staging' });
  return { r, health: ((r.structured?.result as { health?: Health } | undefined)?.health ?? []) as Health };
};

describe('deploy verified by the checksum S3 reports', () => {
  it('every object, small and multipart, is checked by what S3 reports; none is downloaded again', async () => {
    const { h, dir } = await site({ big: true });
    const proxy = proxyOf();
    proxy.seen.length = 0;
    const { r, health } = await deploy(h, dir);
    expect(r.isError, r.text).toBeFalsy();
    expect(health.filter((x) => x.check.startsWith('checksum ')).map((x) => [x.check, x.ok])).toEqual([
      ['checksum app.js', true],
      ['checksum big.bin', true],
      ['checksum index.html', true],
    ]);
    // Asked for with the upload: a SHA-256 on every PutObject and part.
    const puts = proxy.seen.filter((s) => ['PutObject', 'UploadPart'].includes(s3Operation(s)));
    expect(new Set(puts.map(s3Operation))).toEqual(new Set(['PutObject', 'UploadPart']));
    for (const p of puts) expect(p.headers['x-amz-checksum-sha256'], p.path).toBeDefined();
    expect(proxy.seen.filter((s) => s.method === 'GET' && /\/(index\.html|app\.js|big\.bin)$/.test(s.path))).toEqual([]);
  });

  it('planning computes what S3 reports for a multipart object: the SHA-256 of its part SHA-256s and the part count', () => {
    const bytes = Buffer.alloc(2 * PART_BYTES + 5, 3);
    bytes[PART_BYTES] = 9;
    const parts = [bytes.subarray(0, PART_BYTES), bytes.subarray(PART_BYTES, 2 * PART_BYTES), bytes.subarray(2 * PART_BYTES)].map((p) =>
      createHash('sha256').update(p).digest(),
    );
    const hasher = new PartHasher();
    // Chunks that straddle the part boundaries, as a file stream gives them.
    for (let at = 0; at < bytes.length; at += 65_537) hasher.update(bytes.subarray(at, Math.min(bytes.length, at + 65_537)));
    expect(hasher.composite()).toBe(`${createHash('sha256').update(Buffer.concat(parts)).digest('base64')}-3`);
  });

  it('a checksum S3 reports that is not the plan’s fails the health check and the deploy is rolled back', async () => {
    const { h, dir } = await site();
    const proxy = proxyOf();
    const wrong = createHash('sha256').update('something else').digest('base64');
    proxy.rule = (s) =>
      s3Operation(s) === 'PutObject' && s.path.endsWith('/app.js') ? { headers: { 'x-amz-checksum-sha256': wrong } } : 'pass';
    const { r } = await deploy(h, dir);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/rolled back/);
    expect(r.text).toMatch(new RegExp(`checksum app\\.js.*S3 reports ${wrong.replace(/[+/]/g, '\\$&')}`));
    expect(h.audit.tail({ limit: 1 })[0].kind).toBe('rolled_back');
  });

  it('an object S3 reports no checksum for is read back instead, and its bytes decide', async () => {
    const { h, dir } = await site();
    const proxy = proxyOf();
    proxy.rule = (s) =>
      s3Operation(s) === 'PutObject' && s.path.endsWith('/index.html') ? { headers: { 'x-amz-checksum-sha256': null } } : 'pass';
    proxy.seen.length = 0;
    const { r, health } = await deploy(h, dir);
    expect(r.isError, r.text).toBeFalsy();
    expect(health.map((x) => [x.check, x.ok])).toEqual([
      ['checksum app.js', true],
      ['read back index.html', true],
    ]);
    expect(proxy.seen.filter((s) => s.method === 'GET' && s.path.endsWith('/index.html'))).toHaveLength(1);
  });
});
