// Reconcile before declaring failure: when the connection drops after RunInstances acted (and the SDK's retries launch
// again, since moto ignores ClientToken), scale_service asks AWS what exists for its approval before it answers —
// the outcome, the ledger and the next budget check say what is true.
import { afterEach, describe, expect, it } from 'vitest';
import { rawDb } from '../src/store/store.js';
import { useFaultProxy } from './helpers/fault-proxy.js';
import { call, connect, heldReservations, liveInstances, type Harness } from './helpers/harness.js';
import { serviceWorld } from './helpers/samples.js';

const proxyOf = useFaultProxy('EC2');
const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const isRunInstances = (body: Buffer) => /(^|&)Action=RunInstances(&|$)/.test(body.toString());

describe('a reset after AWS acted', () => {
  it('every RunInstances answer lost (and retried): the launch is found, the excess terminated, the outcome and ledger true', async () => {
    const w = await serviceWorld();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    let resets = 0;
    proxyOf().rule = (r) => (isRunInstances(r.body) ? (resets++, 'reset_after') : 'pass');
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 1 });
    // The SDK retried after each reset, and moto launched each time.
    expect(resets).toBeGreaterThanOrEqual(2);
    expect(r.isError, r.text).toBeFalsy();
    const ids = await liveInstances(w.project);
    expect(ids).toHaveLength(1);
    expect((r.structured as { result: { launched: string[] } }).result.launched).toEqual(ids);
    const kinds = h.store.audit.tail({ limit: 2 }).map((e) => e.kind);
    expect(kinds).toEqual(['approved', 'executed']);
    expect(
      rawDb(h.store).prepare('SELECT arn FROM budget_resources WHERE project = ? AND released_at IS NULL').pluck().all(w.project),
    ).toEqual([expect.stringMatching(new RegExp(`instance/${ids[0]}$`))]);
  });

  it('RunInstances failing before AWS acted: nothing is left running and the outcome says so', async () => {
    const w = await serviceWorld();
    const h = await connect(w.policy, w.agent);
    open.push(h);
    proxyOf().rule = (r) => (isRunInstances(r.body) ? { status: 400, code: 'InsufficientInstanceCapacity' } : 'pass');
    const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 1 });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/RunInstances failed .* AWS holds 0 of the 1 planned instance\(s\); rolled back/);
    expect(await liveInstances(w.project)).toEqual([]);
    expect(heldReservations(h.store)).toBe(0);
  });
});
