// Prints the import graph between the top-level parts of src/ (src/<part>/…) and any cycle among them.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
const root = resolve(process.argv[2] ?? 'src');
const files = [];
const walk = (d) => {
  for (const f of readdirSync(d)) {
    const p = join(d, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(p);
  }
};
walk(root);
const partOf = (p) => relative(root, p).split('/')[0].replace(/\.ts$/, '');
const edges = new Map();
for (const f of files) {
  const src = readFileSync(f, 'utf8');
  for (const m of src.matchAll(/^import\s+(type\s+)?[^'"]*from\s+'(\.[^']+)'/gm)) {
    if (m[1]) continue; // type-only imports do not run
    const target = resolve(dirname(f), m[2]).replace(/\.js$/, '.ts');
    if (!target.startsWith(root)) continue;
    const a = partOf(f),
      b = partOf(target);
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a).add(b);
  }
}
for (const [a, bs] of [...edges].sort()) console.log(`${a} -> ${[...bs].sort().join(', ')}`);
// Tarjan's strongly connected components: any with more than one part is a cycle.
let index = 0;
const idx = new Map(),
  low = new Map(),
  stack = [],
  on = new Set(),
  sccs = [];
const nodes = new Set([...edges.keys(), ...[...edges.values()].flatMap((s) => [...s])]);
const strong = (v) => {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  on.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const c = [];
    let w;
    do {
      w = stack.pop();
      on.delete(w);
      c.push(w);
    } while (w !== v);
    sccs.push(c);
  }
};
for (const v of nodes) if (!idx.has(v)) strong(v);
const cycles = sccs.filter((c) => c.length > 1);
console.log(cycles.length ? `cycles: ${cycles.map((c) => c.sort().join(' ↔ ')).join('; ')}` : 'no cycle between the top-level parts');
process.exit(cycles.length ? 1 : 0);
