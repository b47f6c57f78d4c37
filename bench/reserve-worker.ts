// One server process racing others for the same budget, for the race test and the bench:
// node dist/bench/reserve-worker.js DB POLICY_FILE AGENT COUNT START_AT_MS [CENTS_EACH] [PAUSE_MS] [WARM_UP]
// Prints one JSON line: approved / denied / other counts, each check+reserve's latency in ms (`checkMs`: the check, the
// reservation and the approved row, one transaction) and with the call's requested row appended before it (`ms`).
// WARM_UP calls before the start, each reservation released at once (the cap untouched): the process's first calls
// prepare its statements, which a server does once in its life, not at every call.
import { readFileSync } from 'node:fs';
import type { Plan } from '../src/guard/types.js';
import { parsePolicy } from '../src/policy/load.js';
import { resolveAgent } from '../src/core/agent.js';
import { decideAndRecord, guardRequest } from '../src/registry/decide.js';
import { Store } from '../src/store/store.js';

const [db, policyFile, agentId, count, startAt, centsEach = '300', pauseMs = '0', warmUp = '0'] = process.argv.slice(2);
const policy = parsePolicy(readFileSync(policyFile, 'utf8'), policyFile, ['reserve']);
const agent = resolveAgent(policy, agentId);
const store = Store.open(db);
const req = guardRequest(agent, 'reserve');
const plan = (i: number): Plan => ({
  tool: 'reserve',
  summary: `reserve #${i}`,
  mutating: true,
  operations: [],
  resources: [],
  tagsToSet: {},
  costDeltaUsdMonth: Number(centsEach) / 100,
  riskFlags: [],
  rollback: [],
  params: {},
});
/** One call: its requested row, then the guard's check and what it writes. */
function call(i: number) {
  const requested = store.audit.append({ kind: 'requested', agent: agent.id, project: agent.projectId, tool: 'reserve', request: { i } });
  const c = performance.now();
  const gate = decideAndRecord(store, {
    req,
    plan: plan(i),
    agent,
    requestedId: requested.id,
    roleArn: null,
    dryRun: false,
    mutating: true,
    args: {},
  });
  return { gate, checkMs: performance.now() - c };
}
for (let i = 0; i < Number(warmUp); i++) {
  const { gate } = call(-1 - i);
  if (gate.kind === 'approved') store.ledger.release(gate.row.id, 'bench warm-up');
}
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
const out = { approved: 0, denied: 0, other: 0, ms: [] as number[], checkMs: [] as number[] };
for (let i = 0; i < Number(count); i++) {
  const t = performance.now();
  const { gate, checkMs } = call(i);
  out.checkMs.push(checkMs);
  out.ms.push(performance.now() - t);
  if (gate.kind === 'approved') out.approved++;
  else if (gate.decision.outcome === 'deny' && gate.decision.rule === 'budget') out.denied++;
  else out.other++;
  // The race test spreads each process's calls over time, so that on a busy machine they still overlap.
  if (Number(pauseMs) > 0) await new Promise((r) => setTimeout(r, Number(pauseMs)));
}
store.close();
process.stdout.write(`${JSON.stringify(out)}\n`);
