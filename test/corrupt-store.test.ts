// A corrupt store is not trusted: with a zeroed page in the middle of the audit table, the server refuses every
// mutating call (no AWS write), and `wardenctl audit verify` exits 1 naming where the damage starts.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { buildServer } from '../src/server/build.js';
import { rawDb, Store } from '../src/store/store.js';
import { admin, call, world } from './helpers/harness.js';

const CTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');

/** A store with enough audit rows to span many pages, then one page in the middle of the file zeroed. */
function corruptStore(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'warden-corrupt-')), 'w.db');
  const store = Store.open(file);
  for (let i = 0; i < 3000; i++)
    store.audit.append({ kind: 'requested', agent: 'bot', project: 'p', tool: 'get_status', request: { filler: 'x'.repeat(300), i } });
  // A leaf page of the audit table itself, from the middle of it.
  const leaves = rawDb(store)
    .prepare("SELECT pageno FROM dbstat WHERE name = 'audit_events' AND pagetype = 'leaf' ORDER BY pageno")
    .pluck()
    .all() as number[];
  store.close();
  const page = leaves[Math.floor(leaves.length / 2)];
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.alloc(4096), 0, 4096, (page - 1) * 4096);
  closeSync(fd);
  return file;
}

describe('a corrupt store', () => {
  it('audit verify exits 1 and names where the damage is (not a crash with exit 2)', { timeout: 60_000 }, () => {
    const file = corruptStore();
    const r = spawnSync(process.execPath, [CTL, 'audit', 'verify', '--db', file, '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.ok).toBe(false);
    // The rows on the zeroed page are named, the ones before it verified, and SQLite says which table is hurt.
    expect(out.reason).toMatch(/rows #\d+–#\d+ cannot be read \(database disk image is malformed\)/);
    expect(out.seq).toBeGreaterThan(1000);
    expect(out.count).toBe(out.seq - 1);
    expect(out.integrity.join(' ')).toMatch(/audit_events: /);
  });

  it('the server refuses every mutating call on it, and sends nothing to AWS', async () => {
    const w = world();
    const file = corruptStore();
    const policyFile = join(mkdtempSync(join(tmpdir(), 'warden-corrupt-policy-')), 'policy.yaml');
    writeFileSync(policyFile, w.yaml);
    const sent: string[] = [];
    const { server, store } = buildServer({
      agentId: w.agent,
      policyFile,
      dbFile: file,
      observe: (c) => c.mutating && sent.push(c.command),
    });
    expect(store.damage).toMatch(/failed SQLite's quick_check/);
    const client = new Client({ name: 't', version: '0' });
    const [a, b] = InMemoryTransport.createLinkedPair();
    await Promise.all([client.connect(a), server.connect(b)]);
    try {
      const arn = await launchTagged(admin.ec2(), { ProjectId: w.project, Name: 'corrupt' });
      const r = await call(client, 'tag_resource', { resource_arn: arn, set: { Owner: 'x' } });
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(
        /refused: the audit store .* failed SQLite's quick_check .* no change is made while the record cannot be trusted/,
      );
      expect(sent).toEqual([]);
    } finally {
      await client.close();
      await server.close();
      store.close();
    }
  });
});
