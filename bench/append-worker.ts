// One process appending to a shared store, for the store bench: node dist/bench/append-worker.js LOCATION COUNT START_AT_MS
// Prints one JSON line: each append's latency in ms.
import { Store } from '../src/store/store.js';

const [location, count, startAt] = process.argv.slice(2);
const store = Store.open(location);
await new Promise((r) => setTimeout(r, Math.max(0, Number(startAt) - Date.now())));
const ms: number[] = [];
for (let i = 0; i < Number(count); i++) {
  const t = performance.now();
  store.audit.append({ kind: 'read', agent: `p${process.pid}`, project: 'shop', tool: 'get_status', asked: { i }, answer: { ok: true } });
  ms.push(performance.now() - t);
}
store.close();
process.stdout.write(`${JSON.stringify({ ms })}\n`);
