// The package as a user installs it: `npm pack`, installed into an empty directory, runs `npx aws-warden demo` and
// `demo --serve` exactly as a clone does; a demo that misses a step, or lost its files, exits non-zero saying which.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Script } from '../src/demo/script.js';
import { launchTagged } from '../src/demo/seed.js';
import { findMotoServer } from '../src/emulator/moto.js';
import { admin, connect, world } from './helpers/harness.js';
import { until } from './helpers/served.js';

const app = mkdtempSync(join(tmpdir(), 'warden-installed-'));
const installed = join(app, 'node_modules', 'aws-warden');

/** The user's environment: no AWS configuration at all (the demo brings its own), the emulator already installed. */
function userEnv(): Record<string, string> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), WARDEN_MOTO_SERVER: findMotoServer() };
  for (const k of ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) delete env[k];
  return env;
}

/** Runs a command in the app directory to its end, without blocking the test worker. */
function run(cmd: string, args: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: app, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (status) => resolve({ status, out }));
  });
}

beforeAll(async () => {
  // dist is built by `npm test`'s pretest; packing must not rebuild it under the other tests' feet.
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', app], { encoding: 'utf8' });
  expect(pack.status, pack.stderr).toBe(0);
  const tarball = readdirSync(app).find((f) => f.endsWith('.tgz')) as string;
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'user-app', version: '1.0.0', private: true }));
  const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(app, tarball)]);
  expect(install.status, install.out).toBe(0);
}, 600_000);

afterAll(() => rmSync(app, { recursive: true, force: true }));

describe('the installed package', () => {
  it('ships what the demo and the emulator setup need, and answers --version', async () => {
    for (const f of ['examples/site/index.html', 'policy.yaml', 'scripts/setup-emulator.sh', 'LICENSE', 'README.md'])
      expect(existsSync(join(installed, f)), f).toBe(true);
    expect(existsSync(join(installed, 'dist', 'test'))).toBe(false);
    const v = await run('npx', ['--no-install', 'aws-warden', '--version']);
    expect(v.out).toMatch(/^aws-warden \d+\.\d+\.\d+\n$/);
    const w = await run('npx', ['--no-install', 'wardenctl', '--version']);
    expect(w.out).toMatch(/^wardenctl \d+\.\d+\.\d+\n$/);
  }, 60_000);

  it('npx aws-warden demo runs every step to the result it shows', async () => {
    const r = await run('npx', ['--no-install', 'aws-warden', 'demo']);
    expect(r.out).not.toMatch(/DEMO FAILED/);
    expect(r.out).toMatch(/deployed to shop--shop-staging/);
    expect(r.out).toMatch(/worker ran job-\w+ \(promote_site\): done/);
    expect(r.out).toMatch(/chain verified: \d+ events/);
    expect(r.status, r.out.slice(-2000)).toBe(0);
  }, 240_000);

  it('npx aws-warden demo --serve serves a client that deploys the bundled site', async () => {
    const transport = new StdioClientTransport({
      command: 'npx',
      args: ['--no-install', 'aws-warden', 'demo', '--serve'],
      cwd: app,
      env: userEnv(),
      stderr: 'pipe',
    });
    const client = new Client({ name: 'installed', version: '1' });
    await client.connect(transport);
    try {
      await until('the demo to be ready', async () => !(await client.callTool({ name: 'get_status', arguments: {} })).isError, 90_000);
      const deploy = await client.callTool({
        name: 'deploy_static_site',
        arguments: { site: 'shop', source_dir: join(installed, 'examples', 'site'), environment: 'staging' },
      });
      expect(deploy.structuredContent, JSON.stringify(deploy.content)).toMatchObject({ status: 'executed' });
    } finally {
      await client.close();
    }
  }, 180_000);

  it('a demo whose site files are gone exits non-zero saying so, never "chain verified"', async () => {
    rmSync(join(installed, 'examples'), { recursive: true });
    const r = await run('npx', ['--no-install', 'aws-warden', 'demo']);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/the demo's site is missing: .*examples\/site\/index\.html/);
    expect(r.out).not.toMatch(/chain verified/);
  }, 120_000);
});

describe('the demo script', () => {
  it('a step that does not come to the result the demo shows makes the verdict 1, naming it', async () => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    const lines: string[] = [];
    const script = new Script((s) => lines.push(s));
    const foreign = await launchTagged(admin.ec2(), { ProjectId: w.other });
    await script.call(h.client, w.agent, 'get_status', {}, 'ok');
    expect(script.verdict()).toBe(0);
    await script.call(h.client, w.agent, 'tag_resource', { resource_arn: foreign, set: { Owner: 'x' } }, 'ok');
    await h.close();
    expect(script.verdict()).toBe(1);
    expect(lines.join('\n')).toMatch(
      /DEMO FAILED: 1 step\(s\)[^]*tag_resource came to "error", the demo expected "ok": tag_resource denied by the ownership rule/,
    );
  });
});
