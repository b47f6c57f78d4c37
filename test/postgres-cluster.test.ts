// The throwaway cluster of the tests and the bench: pg_ctl daemonises it, so one whose run was killed (-9) before it
// could stop it would run on; the next start stops and removes it, and leaves a live run's cluster alone.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { reapAbandonedClusters } from '../src/emulator/postgres.js';
import { hasPostgres, pgAdminUrl } from './helpers/pg.js';

const MODULE = join(process.cwd(), 'dist', 'src', 'emulator', 'postgres.js');

async function reachable(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

describe.skipIf(!hasPostgres)('the throwaway PostgreSQL cluster', () => {
  it(
    'one whose maker was killed -9 is stopped and removed by the next start; the live run’s own is left',
    { timeout: 120_000 },
    async () => {
      const script = `const { startPostgres } = await import(${JSON.stringify(MODULE)});
      console.log((await startPostgres()).adminUrl);
      setInterval(() => {}, 60_000);`;
      const maker = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        maker.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.trim());
        });
        maker.once('exit', (code) => reject(new Error(`the cluster's maker exited ${code} before it printed a URL`)));
      });
      const dir = readdirSync(tmpdir())
        .map((n) => join(tmpdir(), n))
        .find((d) => existsSync(join(d, 'maker.pid')) && readFileSync(join(d, 'maker.pid'), 'utf8') === String(maker.pid));
      expect(dir).toBeDefined();
      const gone = new Promise((r) => maker.once('exit', r));
      maker.kill('SIGKILL');
      await gone;
      // Its maker is dead and the cluster still runs: what a killed test run used to leave behind.
      expect(await reachable(url)).toBe(true);
      const reaped = await reapAbandonedClusters();
      expect(reaped).toContain(dir);
      expect(existsSync(dir as string)).toBe(false);
      expect(await reachable(url)).toBe(false);
      // This run's own cluster has a live maker: untouched.
      expect(await reachable(pgAdminUrl)).toBe(true);
    },
  );
});
