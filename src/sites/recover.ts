// At start: deployments a crashed process left in progress are finished — health checked and made live, or rolled back.
import type { AgentAws } from '../aws/clients.js';
import { inCallScope, withApproval } from '../aws/write-gate.js';
import type { Plan } from '../guard/types.js';
import { notify } from '../notify/notify.js';
import type { AgentContext } from '../server/agent-context.js';
import type { Store } from '../store/store.js';
import { probeUrl, readBack, type SiteHealth } from './health.js';
import { restore, siteHealthUrl } from './ops.js';

export interface Recovered {
  deployment: string;
  outcome: 'live' | 'rolled_back' | 'skipped';
  why: string;
}

/**
 * For each unfinished deployment this agent approved: if every planned upload landed, run the health check
 * and make it live; otherwise (or if unhealthy) delete exactly the versions it wrote. Runs under the original
 * approval, which is still open because the crashed process never recorded an outcome.
 */
export async function recoverDeployments(store: Store, agent: AgentContext, aws: AgentAws): Promise<Recovered[]> {
  const done: Recovered[] = [];
  for (const d of store.deployments.unfinished(agent.projectId)) {
    const approved = store.audit.get(d.id);
    if (!approved || approved.agent !== agent.id || !store.audit.isOpenApproval(d.id, agent.id)) {
      done.push({ deployment: d.id, outcome: 'skipped', why: 'not an open approval of this agent' });
      continue;
    }
    const plan = JSON.parse(approved.request ?? '{}') as Plan;
    const puts = plan.operations.filter((o) => o.action === 's3:PutObject').map((o) => o.params as { key: string; sha256: string });
    const created = JSON.parse(d.created) as { key: string; versionId: string }[];
    const wrote = new Map(created.map((c) => [c.key, c.versionId]));
    const pre = (plan.preconditions ?? {}) as { live_versions?: Record<string, string> };
    const outcome = await inCallScope({ agent: agent.id, tool: approved.tool, requestIds: [] }, () =>
      withApproval(d.id, async (): Promise<Recovered> => {
        let health: SiteHealth[] = [];
        let why = '';
        if (puts.every((p) => wrote.has(p.key))) {
          health = await readBack(aws, d.bucket, puts.map((p) => ({ key: p.key, versionId: wrote.get(p.key) as string, sha256: p.sha256 })));
          const sites = agent.project.sites;
          if (sites.health_url) health.push(await probeUrl(siteHealthUrl(sites.health_url, d.site, d.environment, d.bucket, await aws.s3.config.region()), sites.health_timeout_seconds));
          why = health.filter((h) => !h.ok).map((h) => `${h.check}: ${h.detail}`).join('; ');
        } else why = `only ${puts.filter((p) => wrote.has(p.key)).length} of ${puts.length} uploads landed before the crash`;
        if (!why) {
          const versions: Record<string, string> = { ...(pre.live_versions ?? {}) };
          for (const c of created) if (puts.some((p) => p.key === c.key)) versions[c.key] = c.versionId;
          for (const o of plan.operations.filter((x) => x.action === 's3:DeleteObject')) delete versions[(o.params as { key: string }).key];
          store.transaction(() => {
            store.deployments.finish(d.id, 'live', versions, health);
            store.audit.append({ kind: 'executed', agent: agent.id, project: agent.projectId, tool: approved.tool, follows: d.id, result: { recovered: true, bucket: d.bucket, health } });
          });
          return { deployment: d.id, outcome: 'live', why: 'all uploads landed and the health check passed after a restart' };
        }
        await restore(aws, d.bucket, created);
        store.transaction(() => {
          store.deployments.finish(d.id, 'rolled_back', pre.live_versions ?? {}, health);
          store.audit.appendRolledBack({ agent: agent.id, project: agent.projectId, tool: approved.tool, approvalId: d.id, ran: { recovered: true, wrote: created.length }, result: { recovered: true, error: why } });
        });
        notify(store, agent.project, { project: agent.projectId, kind: 'rolled_back', subject: `unfinished deploy ${d.id} of ${d.site} rolled back after a restart`, body: { reason: why }, eventId: d.id });
        return { deployment: d.id, outcome: 'rolled_back', why };
      }),
    );
    done.push(outcome);
  }
  return done;
}
