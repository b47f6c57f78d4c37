// Starts moto's server mode on a free loopback port and stops it: one emulator for a test run, a bench or the demo.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Emulator {
  endpoint: string;
  stop(): Promise<void>;
}

/** The package root: the nearest folder above this file with a package.json (works from src/ and dist/src/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('aws-warden package root not found');
    dir = up;
  }
  return dir;
}

/** The moto_server to run: WARDEN_MOTO_SERVER if set, else the package's .venv, else one on PATH. */
export function findMotoServer(): string {
  const chosen = process.env.WARDEN_MOTO_SERVER;
  if (chosen) {
    if (!existsSync(chosen)) throw new Error(`WARDEN_MOTO_SERVER=${chosen}: no such file`);
    return chosen;
  }
  const local = join(packageRoot(), '.venv', 'bin', 'moto_server');
  if (existsSync(local)) return local;
  const onPath = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' });
  if (onPath.status === 0 && onPath.stdout.trim()) return onPath.stdout.trim();
  throw new Error('moto_server not found: run `npm run setup:emulator` (it installs moto[server] into .venv)');
}

/**
 * For the demo: install moto into .venv with the project's own script when it is not there yet. Without blocking the
 * event loop (an MCP server keeps answering meanwhile), and with the script's output on stderr, never on stdout.
 */
export async function ensureMotoInstalled(): Promise<void> {
  try {
    findMotoServer();
    return;
  } catch {
    const script = join(packageRoot(), 'scripts', 'setup-emulator.sh');
    const status = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('bash', [script], { stdio: ['ignore', process.stderr, process.stderr] });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (status !== 0)
      throw new Error(`installing the emulator failed (${script} exited ${status}); Python 3 with venv and PyPI access are needed`);
  }
}

/** A loopback port free right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function waitUntilUp(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode} before answering`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`moto_server did not answer at ${endpoint} within ${timeoutMs} ms`);
}

export async function startMoto(opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; port?: number } = {}): Promise<Emulator> {
  const bin = findMotoServer();
  const port = opts.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const kill = () => child.exitCode === null && child.kill('SIGKILL');
  process.once('exit', kill);
  try {
    await waitUntilUp(endpoint, child, opts.timeoutMs ?? 60_000);
  } catch (e) {
    kill();
    throw new Error(`${(e as Error).message}\n${stderr}`, { cause: e });
  }
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        process.off('exit', kill);
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(kill, 3000).unref();
      }),
  };
}

/** The standard AWS configuration that points the SDK at the emulator (what a user would export). */
export function emulatorEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
}
