// The narrow parts of the store a tool's planner and executor may use: reads of the records they report on, and
// the deployment and backup records a deploy or a restore check keeps. No audit, no locks, no SQL.
import type { BackupChecks } from '../store/backup-checks.js';
import type { Deployments } from '../store/deployments.js';
import type { DesiredState } from '../store/desired.js';
import type { Jobs } from '../store/jobs.js';
import type { Ledger } from '../store/ledger.js';
import type { Notice } from '../notify/notify.js';
import type { Proposals } from '../store/proposals.js';
import type { RateLimits } from '../store/rate-limits.js';

/** What an execution leaves for the ledger and the desired state, as tools describe it. */
export type { DesiredEntry } from '../store/desired.js';
export type { LedgerChange } from '../store/ledger.js';

export interface ToolPorts {
  clock(): Date;
  deployments: Pick<
    Deployments,
    'start' | 'noteCreated' | 'finish' | 'live' | 'allLive' | 'get' | 'history' | 'lastDeploys' | 'unfinished'
  >;
  desired: Pick<DesiredState, 'list'>;
  jobs: Pick<Jobs, 'get'>;
  proposals: Pick<Proposals, 'list' | 'get' | 'pendingCount'>;
  rates: Pick<RateLimits, 'usage'>;
  ledger: Pick<Ledger, 'facts' | 'summary'>;
  backups: Pick<BackupChecks, 'recordAll' | 'ofEvent'>;
  /** Tells the project's humans; recording the notice never fails the call. */
  notify(n: Omit<Notice, 'project'>): void;
}
