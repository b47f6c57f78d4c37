// A read costs one audit row: what was asked, the decision and a digest of the answer, written in one commit after the
// read; a denied or failed read writes its refusal the same way, and a read whose row cannot be written answers nothing.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { auditTable } from '../src/cli/audit-table.js';
import { launchTagged } from '../src/demo/seed.js';
import { canonicalJson } from '../src/util/canonical.js';
import { digestJson } from '../src/store/bounded.js';
import { admin, call, connect, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function owned(n: number): Promise<{ h: Harness; w: ReturnType<typeof world> }> {
  const w = world();
  for (let i = 0; i < n; i++) await launchTagged(admin.ec2(), { ProjectId: w.project, Name: `web-${i}` });
  const h = await connect(w.policy, w.agent);
  open.push(h);
  return { h, w };
}

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const since = (h: Harness, seq: number) => h.audit.tail({ limit: 20 }).filter((e) => e.seq > seq);
const head = (h: Harness) => h.audit.tail({ limit: 1 })[0]?.seq ?? 0;

describe('a read costs one row', () => {
  it('list_resources writes one read row: its arguments, the decision, and the digest of exactly what the agent got', async () => {
    const { h } = await owned(3);
    const before = head(h);
    const r = await call(h.client, 'list_resources', { max_results: 50 });
    expect(r.isError, r.text).toBeFalsy();
    const rows = since(h, before);
    expect(rows.map((e) => e.kind)).toEqual(['read']);
    const [row] = rows;
    expect(row.follows).toBeNull();
    expect(JSON.parse(row.request ?? '{}')).toEqual({ max_results: 50 });
    expect(JSON.parse(row.decision ?? '{}')).toMatchObject({ outcome: 'allow', plan_hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // The digest is of the very JSON text the agent was sent beside the summary.
    const whole = r.text.split('\n').slice(1).join('\n');
    expect(JSON.parse(whole)).toEqual(r.structured);
    const kept = JSON.parse(row.result ?? '{}') as { $digest: string; bytes: number; excerpt: string };
    expect(kept).toEqual({ $digest: sha256(whole), bytes: Buffer.byteLength(whole), excerpt: whole.slice(0, 512) });
    // The answer is larger than what the store keeps of it.
    expect(kept.bytes).toBeGreaterThan(kept.excerpt.length);
    expect(row.role_arn).toMatch(/assumed-role/);
    // The call slot the read held is freed in that same commit.
    expect(h.db.prepare('SELECT COUNT(*) FROM call_slots').pluck().get()).toBe(0);
    expect(h.audit.verify().ok).toBe(true);
  });

  it('the digest object is what canonical JSON would make of it, whatever the answer holds', () => {
    for (const answer of [
      { a: 1 },
      { text: 'quote " back\\slash\nnewline \u0001 é 🎉 \u2028' },
      { big: 'x'.repeat(2000) },
      null,
      'plain',
      [1, 2],
    ]) {
      const text = JSON.stringify(answer);
      const kept = JSON.parse(digestJson(answer)) as Record<string, unknown>;
      expect(digestJson(answer)).toBe(canonicalJson(kept));
      expect(kept).toEqual({ $digest: sha256(text), bytes: Buffer.byteLength(text), excerpt: text.slice(0, 512) });
    }
  });

  it('wardenctl audit shows the read: what it asked and the size and digest of its answer', async () => {
    const { h } = await owned(1);
    await call(h.client, 'list_resources', {});
    const row = h.audit.tail({ limit: 1 })[0];
    const table = auditTable([row], 200);
    const digest = (JSON.parse(row.result ?? '{}') as { $digest: string }).$digest;
    expect(table).toMatch(/\bread\b/);
    expect(table).toContain(`{} → ${(JSON.parse(row.result ?? '{}') as { bytes: number }).bytes} B, ${digest.slice(0, 19)}…`);
  });

  it('invalid and oversized arguments: one denied row carrying what was asked, kept bounded', async () => {
    const { h } = await owned(0);
    let before = head(h);
    const bad = await call(h.client, 'list_resources', { max_results: 'many' });
    expect(bad.isError).toBe(true);
    let rows = since(h, before);
    expect(rows.map((e) => e.kind)).toEqual(['denied']);
    expect(JSON.parse(rows[0].request ?? '{}')).toEqual({ max_results: 'many' });
    expect(JSON.parse(rows[0].decision ?? '{}')).toMatchObject({
      outcome: 'deny',
      rule: 'input',
      reason: expect.stringMatching(/max_results/),
    });

    before = head(h);
    const huge = await call(h.client, 'list_resources', { next_token: 'x'.repeat(200_000) });
    expect(huge.isError).toBe(true);
    rows = since(h, before);
    expect(rows.map((e) => e.kind)).toEqual(['denied']);
    expect(rows[0].request?.length).toBeLessThan(2_000);
    expect(JSON.parse(rows[0].request ?? '{}')).toMatchObject({ next_token: { $digest: expect.stringMatching(/^sha256:/) } });
  });

  it('a read AWS refuses: one failed row with the reason, and the agent is told', async () => {
    const { h } = await owned(0);
    // A fault moto cannot produce for one client: the tagging API refusing the read.
    h.aws.tagging.middlewareStack.add(
      () => async () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });
      },
      { step: 'initialize', name: 'throttleForTest' },
    );
    const before = head(h);
    const r = await call(h.client, 'list_resources', {});
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/list_resources failed/);
    const rows = since(h, before);
    expect(rows.map((e) => e.kind)).toEqual(['failed']);
    expect(JSON.parse(rows[0].decision ?? '{}')).toMatchObject({ outcome: 'allow', stage: 'execute' });
    expect(JSON.parse(rows[0].result ?? '{}')).toMatchObject({ error: expect.stringMatching(/Throttling|Rate exceeded/) });
    expect(h.db.prepare('SELECT COUNT(*) FROM call_slots').pluck().get()).toBe(0);
  });

  it('no row, no answer: a read whose row cannot be written withholds what it read', async () => {
    const { h } = await owned(1);
    h.db.exec(`CREATE TRIGGER full_disk BEFORE INSERT ON audit_events WHEN NEW.kind = 'read'
               BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`);
    const r = await call(h.client, 'list_resources', {});
    expect(r.isError).toBe(true);
    expect(r.structured).toBeUndefined();
    expect(r.text).toMatch(/could not be recorded in the audit store \(database or disk is full\).*withheld/);
    expect(r.text).not.toMatch(/web-0/);
  });
});
