// Records the expiry of proposals whose TTL passed: an audit row each, and a notice to the project's humans.
import { notify } from '../notify/notify.js';
import type { Policy } from '../policy/schema.js';
import type { ProposalRow } from '../store/proposals.js';
import type { Store } from '../store/store.js';

export function recordExpiries(store: Store, policy: Policy | undefined): ProposalRow[] {
  const expired = store.proposals.expireDue();
  for (const p of expired) {
    store.audit.append({
      kind: 'denied',
      agent: 'warden',
      project: p.project,
      tool: p.tool,
      follows: p.event_id,
      decision: { outcome: 'deny', rule: 'expired', proposal: p.id, expires_at: p.expires_at },
    });
    const project = policy?.projects[p.project];
    if (project)
      notify(store, project, {
        project: p.project,
        kind: 'expired',
        subject: `proposal ${p.id} expired undecided`,
        body: { proposal_id: p.id, proposed_by: p.agent },
      });
  }
  return expired;
}
