// Control characters an agent (or a client, or AWS) puts in a string never reach the approving human's terminal raw:
// every wardenctl view shows them escaped, and --json stays exact JSON of the same value.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonSafe, oneLine, terminalSafe } from '../src/util/terminal.js';
import { notify } from '../src/notify/notify.js';
import { Store } from '../src/store/store.js';

const CTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');
const ctl = (...args: string[]) =>
  spawnSync(process.execPath, [CTL, ...args], { encoding: 'utf8', env: { ...process.env, WARDEN_DB: '', WARDEN_POLICY: '' }, input: '' });

/** ESC sequences (clear screen, a fake colour), CSI as C1, CR to overwrite a line, a fake line, a bidi override, DEL, BEL. */
const HOSTILE =
  'scale up\u001b[2J\u001b[32m approved by ops\u001b[0m\r\nproposal prop_000000000000 (approved)\u009b31m \u202eevil\u202c\u007f\u0007 end';
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function seeded(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'warden-term-')), 'warden.db');
  const store = Store.open(file);
  const requested = store.audit.append({
    kind: 'requested',
    agent: 'bot',
    project: 'shop',
    tool: 'request_budget',
    request: { reason: HOSTILE },
  });
  const escalated = store.audit.append({
    kind: 'escalated',
    agent: 'bot',
    project: 'shop',
    tool: 'request_budget',
    follows: requested.id,
    decision: { outcome: 'escalate', reason: HOSTILE },
  });
  const plan = {
    tool: 'request_budget',
    summary: HOSTILE,
    mutating: true,
    operations: [{ action: 'warden:RaiseBudget', target: 'shop', params: { cents_month: 100, month: null } }],
    resources: [],
    tagsToSet: {},
    costDeltaUsdMonth: 0,
    riskFlags: ['budget_increase' as const],
    rollback: [],
    params: {},
  };
  store.proposals.create({
    kind: 'request_budget',
    project: 'shop',
    agent: 'bot',
    tool: 'request_budget',
    reason: HOSTILE,
    plan,
    args: {},
    eventId: escalated.id,
    ttlHours: 72,
  });
  notify(store, { notify: [] } as never, { project: 'shop', kind: 'proposal', subject: HOSTILE, body: { reason: HOSTILE } });
  store.jobs.create({ project: 'shop', agent: 'bot', tool: 'check_drift', args: {}, runAt: new Date(), why: HOSTILE });
  store.close();
  return file;
}

describe('terminal safety', () => {
  it('escapes C0 and C1 controls, ESC, CR, DEL and bidi overrides, and keeps newlines only where wardenctl put them', () => {
    expect(terminalSafe('a\u001b[2Jb')).toBe('a\\u{001b}[2Jb');
    expect(terminalSafe('x\ty\nz')).toBe('x\ty\nz');
    expect(oneLine('one\r\ntwo')).toBe('one\\u{000d}\\ntwo');
    expect(RAW.test(terminalSafe(HOSTILE))).toBe(false);
    expect(JSON.parse(jsonSafe(JSON.stringify({ s: HOSTILE })))).toEqual({ s: HOSTILE });
    expect(RAW.test(jsonSafe(JSON.stringify({ s: HOSTILE })))).toBe(false);
  });

  it('every wardenctl view of an agent’s string shows it escaped; --json parses to the exact string', { timeout: 120_000 }, () => {
    const db = seeded();
    const id = JSON.parse(ctl('proposals', 'list', '--json', '--db', db).stdout)[0].id as string;
    const views = [['proposals', 'list'], ['proposals', 'show', id], ['audit', 'tail'], ['notifications'], ['schedule', 'list']];
    for (const args of views) {
      const r = ctl(...args, '--db', db);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(RAW.test(r.stdout), args.join(' ')).toBe(false);
      expect(RAW.test(r.stderr), args.join(' ')).toBe(false);
      expect(r.stdout, args.join(' ')).toMatch(/\\u\{001b\}/);
    }
    // The show view keeps the agent's words on their own line: its "\n" cannot start a line of wardenctl's.
    expect(
      ctl('proposals', 'show', id, '--db', db)
        .stdout.split('\n')
        .filter((l) => l.startsWith('proposal prop_')),
    ).toHaveLength(1);
    // The approve prompt (stderr) is escaped as well; without a terminal it refuses before asking.
    const approve = ctl('proposals', 'approve', id, '--db', db);
    expect(RAW.test(approve.stderr)).toBe(false);
    for (const args of [
      ['proposals', 'list', '--json'],
      ['notifications', '--json'],
      ['audit', 'tail', '--json'],
      ['schedule', 'list', '--json'],
    ]) {
      const r = ctl(...args, '--db', db);
      expect(r.status, r.stderr).toBe(0);
      expect(RAW.test(r.stdout), args.join(' ')).toBe(false);
      expect(r.stdout.includes('\\u001b'), args.join(' ')).toBe(true);
      expect(JSON.stringify(JSON.parse(r.stdout))).toContain(JSON.stringify(HOSTILE).slice(1, -1));
    }
  });
});
