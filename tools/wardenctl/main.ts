#!/usr/bin/env node
// wardenctl: the human's side of aws-warden. `wardenctl <noun> <verb> [--json]`; exit 0 ok, 1 a finding, 2 usage/environment.
import '../../src/cli/quiet-sdk.js';
import { runMain, UsageError } from '../../src/cli/run-main.js';
import { packageVersion } from '../../src/core/version.js';
import { guardTerminal } from '../../src/util/terminal.js';
import { HELP } from './help.js';

type Command = (argv: string[]) => number | Promise<number>;

/** Each command's module, loaded only when it runs: `--help` or `audit tail` never load the AWS SDK. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  audit: async () => (await import('./audit.js')).auditCommand,
  status: async () => (await import('./status.js')).statusCommand,
  budget: async () => (await import('./budget.js')).budgetCommand,
  proposals: async () => (await import('./proposals.js')).proposalsCommand,
  prices: async () => (await import('./prices.js')).pricesCommand,
  notifications: async () => (await import('./notifications.js')).notificationsCommand,
  iam: async () => (await import('./iam.js')).iamCommand,
  trust: async () => (await import('./trust.js')).trustCommand,
  schedule: async () => (await import('./schedule.js')).scheduleCommand,
  backups: async () => (await import('./backups.js')).backupsCommand,
  agents: async () => (await import('./agents.js')).agentsCommand,
  store: async () => (await import('./store-copy.js')).storeCommand,
};

async function main(argv: string[]): Promise<number> {
  const [noun, ...rest] = argv;
  if (noun === undefined) {
    process.stderr.write(HELP.main);
    return 2;
  }
  if (noun === '--version' || noun === '-V') {
    process.stdout.write(`wardenctl ${packageVersion()}\n`);
    return 0;
  }
  if (noun === '--help' || noun === '-h' || noun === 'help') {
    process.stdout.write(HELP.main);
    return 0;
  }
  const load = Object.hasOwn(COMMANDS, noun) ? COMMANDS[noun] : undefined;
  if (!load) throw new UsageError(`unknown command "${noun}"\n\n${HELP.main}`);
  return (await load())(rest);
}

const argv = process.argv.slice(2);
// Agents' words reach the approver's terminal: no escape sequence, CR or bidi override of theirs is ever obeyed.
guardTerminal(argv.includes('--json') || (argv[0] === 'audit' && argv[1] === 'export'));
runMain(() => main(argv));
