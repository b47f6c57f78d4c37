// wardenctl's help says the truth: every command and verb has its own --help, and every option a help text lists is
// one that command accepts (the same option means the same thing wherever the help says it is taken).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');
const ctl = (...args: string[]) => spawnSync(process.execPath, [CTL, ...args], { encoding: 'utf8', input: '' });

/** Each command line a person types, with the first words its own --help shows. */
const COMMANDS: [string[], string][] = [
  [['audit'], 'Usage: wardenctl audit tail|verify|export'],
  [['audit', 'tail'], 'Usage: wardenctl audit tail'],
  [['audit', 'verify'], 'Usage: wardenctl audit verify'],
  [['audit', 'export'], 'Usage: wardenctl audit export'],
  [['status'], 'Usage: wardenctl status'],
  [['budget'], 'Usage: wardenctl budget'],
  [['budget', 'reconcile'], 'Usage: wardenctl budget reconcile'],
  [['proposals'], 'Usage: wardenctl proposals'],
  [['prices'], 'Usage: wardenctl prices'],
  [['notifications'], 'Usage: wardenctl notifications'],
  [['trust'], 'Usage: wardenctl trust'],
  [['iam'], 'Usage: wardenctl iam'],
  [['schedule'], 'Usage: wardenctl schedule'],
  [['backups'], 'Usage: wardenctl backups'],
  [['agents'], 'Usage: wardenctl agents token issue'],
  [['store'], 'Usage: wardenctl store copy'],
];

/** The verbs a help text covers for a command that has several; the command alone when it has one. */
const VERBS: Record<string, string[]> = {
  audit: [],
  proposals: ['list', 'show', 'approve', 'reject'],
  iam: ['render', 'apply', 'check'],
  schedule: ['list', 'cancel'],
};

describe('wardenctl help', () => {
  it.each(COMMANDS.map(([args, usage]) => [args.join(' '), args, usage] as const))('%s --help is its own', (_n, args, usage) => {
    const r = ctl(...args, '--help');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.startsWith(usage), r.stdout.split('\n')[0]).toBe(true);
  });

  it.each(
    COMMANDS.filter(([args]) => !(args.length === 1 && VERBS[args[0]]?.length === 0)).map(([args]) => [args.join(' '), args] as const),
  )(
    'every option %s --help lists is accepted',
    (_n, args) => {
      const help = ctl(...args, '--help').stdout;
      const verbs = args.length === 1 && VERBS[args[0]] ? VERBS[args[0]] : [null];
      for (const verb of verbs) {
        // A verb's options: those on its usage line, and the option lines (`  --db FILE …`) every verb takes.
        const lines = help.split('\n');
        const own =
          verb === null
            ? lines
            : lines.filter((l) => /^\s*--/.test(l) || new RegExp(`^\\s*(Usage: )?(wardenctl \\S+ )?${verb}\\b`).test(l));
        const flags = [...new Set(own.join('\n').match(/--[a-z][a-z-]*/g) ?? [])].filter((f) => f !== '--help' && f !== '--version');
        expect(flags.length, `${args.join(' ')} ${verb}`).toBeGreaterThan(0);
        const base = verb === null ? args : [...args, verb];
        for (const flag of flags) {
          let r = ctl(...base, flag, '--help');
          if (/argument missing/.test(r.stderr)) r = ctl(...base, flag, 'x', '--help');
          expect(r.stderr, `${base.join(' ')} ${flag}`).not.toMatch(/Unknown option/);
        }
      }
    },
    120_000,
  );
});
