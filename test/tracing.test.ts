// A W3C traceparent in a request's _meta is recorded on that call's audit row, so an agent framework's trace links to
// the warden's decision; a malformed one (or one carrying control characters) is ignored, never stored.
import { afterEach, describe, expect, it } from 'vitest';
import { traceparentOf } from '../src/core/trace.js';
import { connect, world, type Harness } from './helpers/harness.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const TRACE = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const decisionOf = (h: Harness, seq: number) =>
  h.audit
    .tail({ limit: 20 })
    .filter((e) => e.seq > seq)
    .map((e) => ({ kind: e.kind, decision: JSON.parse(e.decision ?? '{}') as Record<string, unknown> }));
const head = (h: Harness) => h.audit.tail({ limit: 1 })[0]?.seq ?? 0;

describe('traceparent', () => {
  it('a read records it on its one row; a change on its first row; a denial of an unknown tool on its row', async () => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    let before = head(h);
    await h.client.callTool({ name: 'get_status', arguments: {}, _meta: { traceparent: TRACE } });
    expect(decisionOf(h, before)).toEqual([{ kind: 'read', decision: expect.objectContaining({ traceparent: TRACE }) }]);

    before = head(h);
    await h.client.callTool({
      name: 'tag_resource',
      arguments: { resource_arn: 'arn:aws:ec2:us-east-1:123456789012:instance/i-0', set: { A: 'b' } },
      _meta: { traceparent: TRACE },
    });
    const rows = decisionOf(h, before);
    expect(rows[0]).toEqual({ kind: 'requested', decision: expect.objectContaining({ traceparent: TRACE }) });

    before = head(h);
    await expect(h.client.callTool({ name: 'no_such_tool', arguments: {}, _meta: { traceparent: TRACE } })).rejects.toThrow(/unknown tool/);
    expect(decisionOf(h, before)).toEqual([
      { kind: 'denied', decision: expect.objectContaining({ rule: 'unknown_tool', traceparent: TRACE }) },
    ]);
  });

  it('a call without one, or with a malformed one, records none', async () => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    const before = head(h);
    await h.client.callTool({ name: 'get_status', arguments: {} });
    await h.client.callTool({ name: 'get_status', arguments: {}, _meta: { traceparent: `${TRACE}\u001b[2J` } });
    for (const row of decisionOf(h, before)) expect(row.decision).not.toHaveProperty('traceparent');
  });

  it.each([
    ['well formed', TRACE, TRACE],
    ['upper-case hex', TRACE.toUpperCase(), undefined],
    ['version ff', TRACE.replace(/^00/, 'ff'), undefined],
    ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, undefined],
    ['all-zero parent id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`, undefined],
    ['too long', `${TRACE}-extra`, undefined],
    ['not a string', 42, undefined],
  ])('%s', (_what, value, kept) => {
    expect(traceparentOf({ traceparent: value })).toBe(kept);
  });
});
