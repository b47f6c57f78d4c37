// On SQLite the append and verify both let SQLite render a row's body (json_array); on PostgreSQL it is rendered in JS
// (renderBody). Any text the two render differently would read as an edited row, or break a chain copied between the
// stores, so every kind of character an agent can send is appended and verified here, and renderBody is compared with
// json_array byte for byte over every UTF-16 code unit.
import { describe, expect, it } from 'vitest';
import { AuditLog, renderBody } from '../src/store/audit.js';
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

  it('renderBody renders exactly what json_array does, for every UTF-16 code unit but a lone surrogate, and astral text', () => {
    const db = openDb(':memory:');
    const texts: string[] = [];
    for (let c = 0; c < 0x10000; c += 256)
      if (c < 0xd800 || c > 0xdfff) texts.push(Array.from({ length: 256 }, (_, i) => String.fromCharCode(c + i)).join(''));
    texts.push('emoji 🎉 astral 𝔘 \u{10ffff}', '{"looks":"like json"}', '');
    const sqlite = db.prepare('SELECT json_array(CAST(? AS INTEGER), ?, NULL, ?)').pluck();
    for (const text of texts) expect(renderBody([1234567, text, null, 'x'])).toBe(sqlite.get(1234567, text, 'x'));
  });

  it('a lone surrogate: SQLite keeps bytes that read back as U+FFFD, and renderBody of what it reads is what json_array renders', () => {
    // What a copy between the stores relies on: the row as read from SQLite renders to the bytes SQLite hashed.
    const db = openDb(':memory:');
    db.exec('CREATE TABLE t (v TEXT)');
    for (let c = 0xd800; c <= 0xdfff; c += 0x80) {
      const text = `lone ${String.fromCharCode(c)} and ${String.fromCharCode(c + 1)}x`;
      db.prepare('DELETE FROM t').run();
      db.prepare('INSERT INTO t VALUES (?)').run(text);
      const row = db.prepare('SELECT v, json_array(v) AS body FROM t').get() as { v: string; body: string };
      expect(row.v).not.toMatch(/[\ud800-\udfff]/);
      expect(renderBody([row.v])).toBe(row.body);
    }
  });
});
