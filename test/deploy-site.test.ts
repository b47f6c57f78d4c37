// deploy_static_site against moto: the bucket it makes, sync by content, read-back and URL health with an exact
// restore, path escapes and limits refused before any upload, another project's bucket untouchable, dry runs.
import {
  CreateBucketCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetPublicAccessBlockCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketTaggingCommand,
} from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listNotifications } from '../src/notify/notify.js';
import { bucketName } from '../src/sites/bucket.js';
import { Store } from '../src/store/store.js';
import { ACCOUNT, admin, call, connect, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
  for (const s of servers.splice(0)) s.close();
});

function siteDir(root: string, files: Record<string, string>): string {
  const dir = join(root, 'site');
  rmSync(dir, { recursive: true, force: true });
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), body);
  }
  return dir;
}

async function setup(opts: { healthUrl?: string; maxFiles?: number; clock?: () => Date; prodApproval?: boolean } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'warden-sites-'));
  const w = world({
    projectYaml: `    sites: { roots: ["${root}"], max_files: ${opts.maxFiles ?? 100}, cache_control: "public, max-age=60", health_timeout_seconds: 2, soak_minutes: 30, prod_requires_approval: ${opts.prodApproval ?? false}${opts.healthUrl ? `, health_url: "${opts.healthUrl}"` : ''} }`,
  });
  const h = await connect(w.policy, w.agent, { store: Store.open(':memory:', { clock: opts.clock }) });
  open.push(h);
  const bucket = bucketName(ACCOUNT, w.project, 'shop', 'staging');
  return { w, h, root, bucket };
}

const deploy = (h: Harness, source_dir: string, extra: Record<string, unknown> = {}) =>
  call(h.client, 'deploy_static_site', { site: 'shop', source_dir, environment: 'staging', ...extra });

async function body(bucket: string, key: string) {
  const out = await admin.s3().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return out.Body?.transformToString();
}
async function keys(bucket: string) {
  const out = await admin.s3().send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((c) => c.Key).sort();
}

describe('deploy_static_site', () => {
  it('creates a tagged, versioned, private website bucket; a second deploy puts one, deletes one, leaves the rest', async () => {
    const { w, h, root, bucket } = await setup();
    const dir = siteDir(root, { 'index.html': '<h1>v1</h1>', 'app.js': 'console.log(1)', 'css/site.css': 'body{}', 'old.txt': 'bye' });
    const first = await deploy(h, dir);
    expect(first.isError, first.text).toBeFalsy();
    expect(first.structured?.result).toMatchObject({ bucket, put: 4, deleted: 0, unchanged: 0 });
    const tags = await admin.s3().send(new (await import('@aws-sdk/client-s3')).GetBucketTaggingCommand({ Bucket: bucket }));
    expect(Object.fromEntries((tags.TagSet ?? []).map((t) => [t.Key, t.Value]))).toMatchObject({
      ProjectId: w.project,
      AgentId: w.agent,
      ManagedBy: 'aws-warden',
      Site: 'shop',
      Environment: 'staging',
    });
    expect((await admin.s3().send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status).toBe('Enabled');
    expect((await admin.s3().send(new GetPublicAccessBlockCommand({ Bucket: bucket }))).PublicAccessBlockConfiguration).toMatchObject({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
    });
    const head = await admin.s3().send(new HeadObjectCommand({ Bucket: bucket, Key: 'css/site.css' }));
    expect(head).toMatchObject({ ContentType: 'text/css', CacheControl: 'public, max-age=60' });

    siteDir(root, { 'index.html': '<h1>v2</h1>', 'app.js': 'console.log(1)', 'css/site.css': 'body{}' });
    h.sent.length = 0;
    const second = await deploy(h, dir);
    expect(second.isError, second.text).toBeFalsy();
    expect(second.structured?.result).toMatchObject({ put: 1, deleted: 1, unchanged: 2 });
    expect(
      h
        .writes()
        .map((c) => c.command)
        .sort(),
    ).toEqual(['DeleteObject', 'PutBucketVersioning', 'PutObject']);
    expect(await keys(bucket)).toEqual(['app.js', 'css/site.css', 'index.html']);
    expect(await body(bucket, 'index.html')).toBe('<h1>v2</h1>');
    const status = await call(h.client, 'get_site_status', { site: 'shop' });
    expect(status.structured).toMatchObject({
      environments: [
        expect.objectContaining({ environment: 'staging', state: 'live', files: 3, healthy: true }),
        expect.objectContaining({ environment: 'prod', state: 'none' }),
      ],
      history: [expect.objectContaining({ state: 'live' }), expect.objectContaining({ state: 'superseded' })],
    });
  });

  it('a failed health check restores every key byte for byte and removes new keys; audit and humans told', async () => {
    let healthy = true;
    const http = createServer((_req, res) => {
      res.statusCode = healthy ? 200 : 503;
      res.end();
    });
    servers.push(http);
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const { h, root, bucket } = await setup({
      healthUrl: `http://127.0.0.1:${(http.address() as { port: number }).port}/{site}/{environment}`,
    });
    const dir = siteDir(root, { 'index.html': 'good', 'app.js': 'v1', 'gone.txt': 'still here' });
    expect((await deploy(h, dir)).isError).toBeFalsy();
    healthy = false;
    siteDir(root, { 'index.html': 'broken', 'app.js': 'v1', 'new.js': 'fresh' });
    const r = await deploy(h, dir);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(
      /deploy_static_site failed its health check \(GET http:\/\/127\.0\.0\.1:\d+\/shop\/staging: no 2xx within 2s \(last: 503\)\); rolled back: every key was read back at its previous version and new keys are removed — nothing changed/,
    );
    expect(await keys(bucket)).toEqual(['app.js', 'gone.txt', 'index.html']);
    expect(await body(bucket, 'index.html')).toBe('good');
    expect(await body(bucket, 'gone.txt')).toBe('still here');
    expect(h.audit.tail({ limit: 4 }).map((e) => e.kind)).toEqual(['requested', 'approved', 'executed', 'rolled_back']);
    expect(listNotifications(h.store).map((n) => n.kind)).toEqual(['rolled_back']);
    const approved = h.audit.tail({ limit: 4 }).find((e) => e.kind === 'approved');
    expect(h.store.deployments.history(approved?.project ?? '', 'shop').map((d) => d.state)).toEqual(['rolled_back', 'live']);
  });

  it.each([
    ['a ../ escape', (root: string) => join(root, '..')],
    ['an absolute path outside the roots', () => '/etc'],
    [
      'a symlinked directory pointing at /etc',
      (root: string) => {
        symlinkSync('/etc', join(root, 'etc-link'));
        return join(root, 'etc-link');
      },
    ],
    ['a directory that does not exist', (root: string) => join(root, 'nope')],
  ])('refuses %s, uploading nothing', async (_what, source) => {
    const { h, root, bucket } = await setup();
    siteDir(root, { 'index.html': 'x' });
    const r = await deploy(h, source(root));
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/deploy_static_site refused: source_dir .*(not in|does not exist)/);
    expect(h.writes()).toEqual([]);
    await expect(admin.s3().send(new ListObjectsV2Command({ Bucket: bucket }))).rejects.toThrow();
  });

  it('uploads a large file in parts, and leaves it alone on the next deploy when its bytes did not change', async () => {
    const { h, root, bucket } = await setup();
    const dir = siteDir(root, { 'index.html': 'x' });
    writeFileSync(join(dir, 'video.bin'), Buffer.alloc(17 * 2 ** 20, 3));
    const first = await deploy(h, dir);
    expect(first.structured?.result).toMatchObject({ put: 2 });
    const head = await admin.s3().send(new HeadObjectCommand({ Bucket: bucket, Key: 'video.bin' }));
    expect(head.ETag).toMatch(/-\d+"?$/);
    const again = await deploy(h, dir);
    expect(again.structured?.result).toMatchObject({ put: 0, unchanged: 2 });
  }, 60_000);

  it('skips dotfiles, symlinks out of the root and specials, and lists them', async () => {
    const { h, root } = await setup();
    const dir = siteDir(root, { 'index.html': 'x', '.env': 'SECRET=1', '.git/config': '[core]' });
    symlinkSync('/etc/hostname', join(dir, 'hostname'));
    const r = await deploy(h, dir);
    expect(r.isError, r.text).toBeFalsy();
    const result = r.structured?.result as { put: number; skipped: { path: string; why: string }[] };
    expect(result.put).toBe(1);
    expect(result.skipped.map((s) => s.path)).toEqual(['.env', '.git', 'hostname']);
    expect(result.skipped[2].why).toMatch(/symlink to \/etc\/hostname, outside/);
  });

  it('enforces the file limit before any upload', async () => {
    const { h, root } = await setup({ maxFiles: 2 });
    const r = await deploy(h, siteDir(root, { 'index.html': 'x', 'a.js': '1', 'b.js': '2' }));
    expect(r.text).toMatch(/more than 2 files \(policy sites\.max_files\)/);
    expect(h.writes()).toEqual([]);
  });

  it.each([
    ['tagged with another project', (w: ReturnType<typeof world>) => [{ Key: 'ProjectId', Value: w.other }], /ProjectId is "q-/],
    ['untagged', () => null, /ProjectId is missing/],
  ])('will not deploy into the derived bucket when it exists %s', async (_what, tags, msg) => {
    const { w, h, root, bucket } = await setup();
    await admin.s3().send(new CreateBucketCommand({ Bucket: bucket }));
    const set = tags(w);
    if (set) await admin.s3().send(new PutBucketTaggingCommand({ Bucket: bucket, Tagging: { TagSet: set } }));
    const r = await deploy(h, siteDir(root, { 'index.html': 'x' }));
    expect(r.text).toMatch(/denied by the ownership rule/);
    expect(r.text).toMatch(msg);
    expect(h.writes()).toEqual([]);
  });

  it('dry_run lists every put with sizes and the cost, and touches nothing', async () => {
    const { h, root, bucket } = await setup();
    const r = await deploy(h, siteDir(root, { 'index.html': 'hello', 'big.bin': 'x'.repeat(5000) }), { dry_run: true });
    expect(r.structured).toMatchObject({
      status: 'dry_run',
      decision: { outcome: 'allow' },
      // storage and requests each round up to a cent
      plan: {
        costDeltaUsdMonth: 0.02,
        operations: expect.arrayContaining([
          expect.objectContaining({ action: 's3:PutObject', params: expect.objectContaining({ key: 'big.bin', size: 5000 }) }),
        ]),
      },
    });
    expect(h.writes()).toEqual([]);
    await expect(admin.s3().send(new ListObjectsV2Command({ Bucket: bucket }))).rejects.toThrow();
  });

  it.each([
    [{ tags: { ProjectId: 'x' } }, /tags\.ProjectId: tag key "ProjectId" is reserved/],
    [{ site: 'My Site' }, /site: a short name/],
    [{ environment: 'qa' }, /environment "qa" is not one of project/],
  ])('refuses %j naming the field', async (extra, msg) => {
    const { h, root } = await setup();
    const r = await deploy(h, siteDir(root, { 'index.html': 'x' }), extra);
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(msg);
    expect(h.writes()).toEqual([]);
  });
});

describe('promote_site', () => {
  it('is denied before staging has soaked, with the time left; afterwards prod holds exactly the staged bytes', async () => {
    let now = new Date();
    const { w, h, root } = await setup({ clock: () => now });
    const dir = siteDir(root, { 'index.html': 'staged v1', 'app.js': 'staged js' });
    expect((await deploy(h, dir)).isError).toBeFalsy();
    h.sent.length = 0;
    const early = await call(h.client, 'promote_site', { site: 'shop' });
    expect(early.text).toMatch(/denied by the soak rule: staging of shop has soaked 0 of 30 minutes; promote again in 30 minute\(s\)/);
    expect(h.writes()).toEqual([]);

    // The working directory moves on; promotion must not pick that up.
    siteDir(root, { 'index.html': 'NOT STAGED', 'app.js': 'staged js' });
    now = new Date(now.getTime() + 31 * 60_000);
    const r = await call(h.client, 'promote_site', { site: 'shop' });
    expect(r.isError, r.text).toBeFalsy();
    expect(r.structured?.result).toMatchObject({ copied: 2, deleted: 0 });
    const prod = bucketName(ACCOUNT, w.project, 'shop', 'prod');
    expect(await keys(prod)).toEqual(['app.js', 'index.html']);
    expect(await body(prod, 'index.html')).toBe('staged v1');
    expect(listNotifications(h.store).map((n) => n.kind)).toEqual(['promoted']);
    const again = await call(h.client, 'promote_site', { site: 'shop' });
    expect(again.structured?.result).toMatchObject({ copied: 0, unchanged: 2 });
  });

  it('becomes a proposal when the policy wants a human for every prod deploy', async () => {
    let now = new Date();
    const { h, root } = await setup({ clock: () => now, prodApproval: true });
    await deploy(h, siteDir(root, { 'index.html': 'v1' }));
    now = new Date(now.getTime() + 31 * 60_000);
    h.sent.length = 0;
    const r = await call(h.client, 'promote_site', { site: 'shop' });
    expect(r.structured).toMatchObject({ status: 'pending_approval', decision: { classes: ['production_deploy'] } });
    expect(h.writes()).toEqual([]);
  });

  it('refuses a site with no staging deployment', async () => {
    const { h } = await setup();
    const r = await call(h.client, 'promote_site', { site: 'ghost' });
    expect(r.text).toMatch(/site ghost has no live staging deployment; deploy_static_site to staging first/);
  });
});
