// A throwaway PostgreSQL cluster for the test run and the bench: initdb in a temporary directory, one server on a free
// loopback port, removed after. initdb refuses to run as root, so as root the cluster runs as the user `nobody`.
// pg_ctl daemonises, so a run killed before it could stop its cluster (kill -9) would leave it running: each cluster
// names the process that made it, and the next start stops and removes those whose maker is gone.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive } from '../util/process.js';
import { freePort } from './moto.js';

export interface PgCluster {
  /** The superuser's URL on the `postgres` database: create a database per test from it. */
  adminUrl: string;
  stop(): Promise<void>;
}

/** The folder holding initdb and pg_ctl: WARDEN_PG_BIN, else Debian's newest /usr/lib/postgresql/N/bin; null if none. */
export function postgresBinaries(): string | null {
  const chosen = process.env.WARDEN_PG_BIN;
  if (chosen) return existsSync(join(chosen, 'initdb')) ? chosen : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : null;
}

function nobody(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  if (!line) throw new Error('initdb refuses root and there is no user nobody to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(cmd: string, args: string[], as: { uid: number; gid: number } | null, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(as ?? {}),
      env: { PATH: process.env.PATH ?? '', LC_ALL: 'C' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args[0]} exited ${code}: ${out.trim().slice(-2000)}`)),
    );
  });
}

const PREFIX = 'warden-pg-';
/** In each cluster's folder: the pid of the process that made it. */
const MAKER = 'maker.pid';

/** Stops and removes every cluster whose maker is gone; returns their folders. A folder naming no maker is left be. */
export async function reapAbandonedClusters(): Promise<string[]> {
  const bin = postgresBinaries();
  if (!bin) return [];
  const as = process.getuid?.() === 0 ? nobody() : null;
  const reaped: string[] = [];
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(PREFIX))) {
    const dir = join(tmpdir(), name);
    let maker: number;
    try {
      maker = Number(readFileSync(join(dir, MAKER), 'utf8'));
    } catch {
      continue;
    }
    if (!Number.isSafeInteger(maker) || maker <= 0 || pidAlive(maker)) continue;
    if (existsSync(join(dir, 'data', 'postmaster.pid')))
      await run(join(bin, 'pg_ctl'), ['stop', '-D', join(dir, 'data'), '-m', 'immediate', '-w'], as, dir).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    reaped.push(dir);
  }
  return reaped;
}

/**
 * Starts a cluster, first stopping any that a killed run left behind. `durable: false` (tests) turns off fsync, which
 * a throwaway cluster does not need; the bench keeps PostgreSQL's defaults so its figures are a real server's.
 */
export async function startPostgres(opts: { durable?: boolean } = {}): Promise<PgCluster> {
  const bin = postgresBinaries();
  if (!bin) throw new Error('PostgreSQL server binaries not found (set WARDEN_PG_BIN to the folder holding initdb and pg_ctl)');
  await reapAbandonedClusters();
  const dir = mkdtempSync(join(tmpdir(), PREFIX));
  writeFileSync(join(dir, MAKER), String(process.pid));
  const as = process.getuid?.() === 0 ? nobody() : null;
  if (as) chownSync(dir, as.uid, as.gid);
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  const port = await freePort();
  const tuning = opts.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off'];
  try {
    await run(join(bin, 'initdb'), ['-D', data, '-U', 'warden', '--auth=trust', '-E', 'UTF8', '--locale=C', '-N'], as, dir);
    const options = [`-p ${port}`, `-k ${dir}`, "-c listen_addresses='127.0.0.1'", '-c max_connections=300', ...tuning].join(' ');
    await run(join(bin, 'pg_ctl'), ['start', '-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', options], as, dir);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    adminUrl: `postgres://warden@127.0.0.1:${port}/postgres`,
    async stop() {
      await run(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate', '-w'], as, dir).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
