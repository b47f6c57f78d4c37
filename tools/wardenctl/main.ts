#!/usr/bin/env node
// wardenctl: the human's side of aws-warden. `wardenctl <noun> <verb> [--json]`; exit 0 ok, 1 a finding, 2 usage/environment.
import '../../src/cli/quiet-sdk.js';
import { runMain, UsageError } from '../../src/cli/run-main.js';
import { packageVersion } from '../../src/cli/version.js';
import { guardTerminal } from '../../src/util/terminal.js';
import { auditCommand } from './audit.js';
import { backupsCommand } from './backups.js';
import { budgetCommand } from './budget.js';
import { HELP } from './help.js';
import { iamCommand } from './iam.js';
import { notificationsCommand } from './notifications.js';
import { pricesCommand } from './prices.js';
import { proposalsCommand } from './proposals.js';
import { scheduleCommand } from './schedule.js';
import { statusCommand } from './status.js';
import { trustCommand } from './trust.js';

const COMMANDS: Record<string, (argv: string[]) => number | Promise<number>> = {
  audit: auditCommand,
  status: statusCommand,
  budget: budgetCommand,
  proposals: proposalsCommand,
  prices: pricesCommand,
  notifications: notificationsCommand,
  iam: iamCommand,
  trust: trustCommand,
  schedule: scheduleCommand,
  backups: backupsCommand,
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
  const command = Object.hasOwn(COMMANDS, noun) ? COMMANDS[noun] : undefined;
  if (!command) throw new UsageError(`unknown command "${noun}"\n\n${HELP.main}`);
  return command(rest);
}

const argv = process.argv.slice(2);
// Agents' words reach the approver's terminal: no escape sequence, CR or bidi override of theirs is ever obeyed.
guardTerminal(argv.includes('--json') || (argv[0] === 'audit' && argv[1] === 'export'));
runMain(() => main(argv));
