// Clients validate tool schemas in other languages: every schema compiles with ajv in strict mode, and every pattern in
// it means the same to ECMA-262 and to Python's `re` (no \p{…}, no lookbehind or named-group syntax only one side knows).
import { Ajv2020 } from 'ajv/dist/2020.js';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { connect, world } from './helpers/harness.js';

/** Every "pattern" in a JSON Schema, with where it is. */
function patterns(schema: unknown, at = '#'): { at: string; pattern: string }[] {
  if (Array.isArray(schema)) return schema.flatMap((s, i) => patterns(s, `${at}/${i}`));
  if (!schema || typeof schema !== 'object') return [];
  return Object.entries(schema).flatMap(([k, v]) =>
    k === 'pattern' && typeof v === 'string' ? [{ at, pattern: v }] : patterns(v, `${at}/${k}`),
  );
}

/** Syntax both dialects read alike; anything else is refused before Python is even asked. */
const JS_ONLY = [/\\[pP]\{/, /\(\?<[=!]/, /\(\?<[A-Za-z]/, /\\k</, /\\u\{/, /\\c[A-Za-z]/];

/** Python's verdict on each pattern: null when `re` compiles it, else its error. */
function pythonVerdicts(list: string[]): (string | null)[] {
  const script =
    'import json, re, sys\nout = []\nfor p in json.load(sys.stdin):\n  try:\n    re.compile(p); out.append(None)\n  except re.error as e:\n    out.append(str(e))\nprint(json.dumps(out))';
  const run = spawnSync('python3', ['-c', script], { input: JSON.stringify(list), encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as (string | null)[];
}

describe('tool schemas are portable', () => {
  it('compile with ajv strict, and every pattern is ECMA-262 and Python re alike', async () => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    const { tools } = await h.client.listTools();
    await h.close();
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    const found: { at: string; pattern: string }[] = [];
    for (const t of tools)
      for (const [which, schema] of [
        ['input', t.inputSchema],
        ['output', t.outputSchema],
      ] as const) {
        expect(() => ajv.compile(schema as object), `${t.name} ${which}`).not.toThrow();
        found.push(...patterns(schema, `${t.name} ${which}`));
      }
    expect(found.length).toBeGreaterThan(10);
    for (const f of found) {
      expect(() => new RegExp(f.pattern), f.at).not.toThrow();
      expect(
        JS_ONLY.find((re) => re.test(f.pattern)),
        `${f.at}: ${f.pattern}`,
      ).toBeUndefined();
    }
    const verdicts = pythonVerdicts(found.map((f) => f.pattern));
    expect(found.flatMap((f, i) => (verdicts[i] === null ? [] : [`${f.at}: ${f.pattern}: ${verdicts[i]}`]))).toEqual([]);
  });

  it('the checks catch a JS-only class and a pattern Python refuses', () => {
    expect(JS_ONLY.some((re) => re.test('^[\\p{L}]+$'))).toBe(true);
    expect(pythonVerdicts(['^(?<name>a)$', '^a{2}$'])[0]).not.toBeNull();
  });
});
