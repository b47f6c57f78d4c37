// Several server processes share one store: the chain stays linear, and a committed row survives kill -9.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../src/store/audit.js';
import { closeDb, openDb } from '../src/store/db.js';

const WORKER = join(import.meta.dirname, 'fixtures', 'append-worker.mjs');
const tmpDb = () => join(mkdtempSync(join(tmpdir(), 'warden-audit-')), 'warden.db');

function run(db: string, agent: string, count: number, startAt: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, db, agent, String(count), String(startAt)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) =>
      code === 0 ? resolve(out.trim().split('\n').map(Number)) : reject(new Error(`worker exit ${code}: ${err}`)),
    );
  });
}

describe('a store shared by processes', () => {
  it('4 processes × 250 concurrent appends keep one valid, gapless chain', async () => {
    const db = tmpDb();
    closeDb(openDb(db)); // migrate once, as the first server would
    // Well ahead, and every tenth append yields a millisecond, so the four overlap even on a loaded machine.
    const startAt = Date.now() + 4000;
    const seqs = await Promise.all(['a', 'b', 'c', 'd'].map((agent) => run(db, agent, 250, startAt)));
    const all = seqs.flat().sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    const conn = openDb(db);
    try {
      const audit = new AuditLog(conn);
      expect(audit.verify()).toMatchObject({ ok: true, count: 1000 });
      expect(audit.counts().map((c) => c.n)).toEqual([250, 250, 250, 250]);
      // They really interleaved: the agents alternate somewhere in the first 500 rows.
      const agents = audit.tail({ limit: 1000 }).map((r) => r.agent);
      expect(agents.filter((a, i) => i > 0 && a !== agents[i - 1]).length).toBeGreaterThan(3);
    } finally {
      closeDb(conn);
    }
  });

  it('every row a killed (-9) process reported committed is there, and the chain verifies', async () => {
    const db = tmpDb();
    const child = spawn(process.execPath, [WORKER, db, 'victim', '1000000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const reported: number[] = [];
    await new Promise<void>((resolve) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        reported.push(...lines.map(Number));
        if (reported.length >= 500 && !child.killed) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((r) => child.once('exit', r));
    const conn = openDb(db);
    try {
      const audit = new AuditLog(conn);
      const v = audit.verify();
      expect(v.ok).toBe(true);
      expect(v.count).toBeGreaterThanOrEqual(Math.max(...reported));
    } finally {
      closeDb(conn);
    }
  });
});

describe('many processes starting on a new store', () => {
  it(
    '8 processes open (and migrate) one new file at the same instant: all start, the schema is whole, the chain verifies',
    { timeout: 120_000 },
    async () => {
      const db = tmpDb();
      const opener = join(import.meta.dirname, 'fixtures', 'open-worker.mjs');
      // Started well ahead of the shared instant, so a busy machine cannot leave one behind.
      const startAt = Date.now() + 4_000;
      const results = await Promise.all(
        Array.from(
          { length: 8 },
          (_, i) =>
            new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
              const child = spawn(process.execPath, [opener, db, `p${i}`, String(startAt)], { stdio: ['ignore', 'pipe', 'pipe'] });
              let out = '';
              let err = '';
              child.stdout.on('data', (d) => (out += d));
              child.stderr.on('data', (d) => (err += d));
              child.on('close', (code) => resolve({ code, out, err }));
            }),
        ),
      );
      for (const r of results) expect(r, r.err).toMatchObject({ code: 0, out: 'ok\n' });
      const conn = openDb(db);
      try {
        const { migrations } = await import('../src/store/migrations.js');
        expect(conn.pragma('user_version', { simple: true })).toBe(migrations.at(-1)?.version);
        const v = new AuditLog(conn).verify();
        expect(v).toMatchObject({ ok: true, count: 8 });
      } finally {
        closeDb(conn);
      }
    },
  );
});
