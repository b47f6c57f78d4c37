// wardenctl's tables fit the terminal: cells shrink with an ellipsis (ids a person copies never), and a table that
// cannot fit readably becomes one `key: value` block per row.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fitWidths, renderTable } from '../src/cli/table.js';
import { Store } from '../src/store/store.js';

const widest = (s: string) => Math.max(...s.split('\n').map((l) => [...l].length));
const HEAD = ['id', 'state', 'what', 'reason'];
const ROW = [
  'prop_d39ec4c15e2f',
  'pending',
  'tag arn:aws:ec2:us-east-1:123456789012:instance/i-5ec5bc2bd9f4a34b9: set Criticality',
  'x'.repeat(60),
];

describe('renderTable', () => {
  it('keeps natural widths when they fit', () => {
    const t = renderTable(HEAD, [ROW], { width: 300 });
    expect(t).toContain(ROW[2]);
    expect(t).not.toContain('…');
  });

  it('shrinks the widest free-text columns to the width, with an ellipsis, and never a kept column', () => {
    for (const width of [120, 100, 90]) {
      const t = renderTable(HEAD, [ROW], { width, keep: ['id'] });
      expect(widest(t), `width ${width}`).toBeLessThanOrEqual(width);
      expect(t).toContain('…');
      expect(t).toContain('prop_d39ec4c15e2f');
    }
  });

  it('falls back to key: value blocks when the columns would be too narrow to read', () => {
    const t = renderTable(HEAD, [ROW, ROW], { width: 40, keep: ['id'] });
    expect(t).toBe(
      [HEAD.map((h, i) => `${h.padEnd(6)}  ${ROW[i]}`).join('\n'), HEAD.map((h, i) => `${h.padEnd(6)}  ${ROW[i]}`).join('\n')].join('\n\n'),
    );
  });

  it('fitWidths shrinks the widest first and refuses below the readable minimum', () => {
    expect(fitWidths([10, 50, 30], 60)).toEqual([10, 25, 25]);
    expect(fitWidths([10, 50, 30], 60, [false, false, true])).toEqual([10, 20, 30]);
    expect(fitWidths([20, 20, 20], 20)).toBeNull();
  });

  it('a table with a newline in a cell stays one line per row', () => {
    const t = renderTable(['a', 'b'], [['one\ntwo', 'x']], { width: 80 });
    expect(t.split('\n')).toHaveLength(5);
  });
});

describe('wardenctl in an 80-column terminal', () => {
  it('proposals list, audit tail and status fit in 80 columns', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'warden-cols-')), 'w.db');
    const store = Store.open(file);
    for (let i = 0; i < 3; i++)
      store.audit.append({
        kind: 'denied',
        agent: 'web-bot-with-a-long-name',
        project: 'shop',
        tool: 'propose_network_acl_change',
        decision: {
          rule: 'ownership',
          reason: 'arn:aws:ec2:us-east-1:123456789012:network-acl/acl-0123456789abcdef0: ProjectId is "billing", not "shop"',
        },
      });
    store.close();
    const CTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');
    for (const args of [['audit', 'tail'], ['status'], ['proposals', 'list']]) {
      const r = spawnSync(process.execPath, [CTL, ...args, '--db', file], { encoding: 'utf8', env: { ...process.env, COLUMNS: '80' } });
      expect(r.status, r.stderr).toBe(0);
      expect(widest(r.stdout), `${args.join(' ')}:\n${r.stdout}`).toBeLessThanOrEqual(80);
    }
  });
});
