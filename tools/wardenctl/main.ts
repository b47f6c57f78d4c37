#!/usr/bin/env node
// wardenctl: the human's side of aws-warden. `wardenctl <noun> <verb> [--json]`; exit 0 ok, 1 a finding, 2 usage/environment.
import { runMain, UsageError } from '../../src/cli/run-main.js';
import { auditCommand } from './audit.js';
import { budgetCommand } from './budget.js';
import { iamCommand } from './iam.js';
import { backupsCommand } from './backups.js';
import { notificationsCommand } from './notifications.js';
import { scheduleCommand } from './schedule.js';
import { pricesCommand } from './prices.js';
import { proposalsCommand } from './proposals.js';
import { HELP } from './help.js';
import { statusCommand } from './status.js';
import { trustCommand } from './trust.js';

async function main(argv: string[]): Promise<number> {
  const [noun, ...rest] = argv;
  switch (noun) {
    case undefined:
      process.stderr.write(HELP.main);
      return 2;
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(HELP.main);
      return 0;
    case 'audit':
      return auditCommand(rest);
    case 'status':
      return statusCommand(rest);
    case 'budget':
      return budgetCommand(rest);
    case 'proposals':
      return proposalsCommand(rest);
    case 'prices':
      return pricesCommand(rest);
    case 'notifications':
      return notificationsCommand(rest);
    case 'iam':
      return iamCommand(rest);
    case 'trust':
      return trustCommand(rest);
    case 'schedule':
      return scheduleCommand(rest);
    case 'backups':
      return backupsCommand(rest);
    default:
      throw new UsageError(`unknown command "${noun}"\n\n${HELP.main}`);
  }
}

runMain(() => main(process.argv.slice(2)));
