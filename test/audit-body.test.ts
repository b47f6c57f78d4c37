// The append renders a row's body itself for plain text (JSON.stringify) and lets SQLite render the rest (json_array);
// verify always re-renders with SQLite. Any text the two render differently would read as an edited row, so every kind
// of character an agent can send is appended and verified here, and the fast path is compared byte for byte.
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../src/store/audit.js';
import { openDb } from '../src/store/db.js';

const TEXTS = [
  'plain ascii',
  'quote " and backslash \\ and slash /',
  'é ü ß 中文 עברית',
  'line\u2028separator\u2029paragraph',
  'bom \ufeff and nbsp \u00a0',
  'emoji 🎉 astral 𝔘',
  'lone high \ud800 surrogate',
  'lone low \udc00 surrogate',
  'nul \u0000 inside',
  'newline \n tab \t return \r',
  'unit separator \u001f and del \u007f',
  '{"looks":"like json"}',
  'x'.repeat(100_000),
];

describe('the row body', () => {
  it.each(TEXTS.map((t) => [JSON.stringify(t).slice(0, 40), t]))('%s: appended in every text column, the chain verifies', (_name, text) => {
    const db = openDb(':memory:');
    const audit = new AuditLog(db);
    audit.append({
      kind: 'read',
      agent: text,
      project: text,
      tool: text,
      action: text,
      asked: { text },
      decision: { text },
      answer: { text },
      roleArn: text,
      requestIds: [text],
      follows: text,
    });
    audit.append({ kind: 'requested', agent: 'a', project: 'p', tool: 't', request: text });
    expect(audit.verify({ full: true })).toMatchObject({ ok: true, count: 2 });
  });

  it('for plain text, JSON.stringify renders exactly what json_array does', () => {
    const db = openDb(':memory:');
    const fields = [1234567, 'id', '2026-12-01T00:00:00.000Z', 'read', 'é 中文 \u2028 🎉'.replace('🎉', ''), '"q"\\', null, '{"a":[1,2]}'];
    const mine = `[${fields.map((f) => (f === null ? 'null' : typeof f === 'number' ? String(f) : JSON.stringify(f))).join(',')}]`;
    const sqlite = db
      .prepare(
        `SELECT json_array(CAST(? AS INTEGER), ${fields
          .slice(1)
          .map(() => '?')
          .join(', ')})`,
      )
      .pluck()
      .get(...fields);
    expect(mine).toBe(sqlite);
  });
});
