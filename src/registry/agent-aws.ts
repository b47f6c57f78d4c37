// The AWS clients and store ports an execution gets: the agent's own assumed role (or a project's approver role for a
// plan a human approved), writes gated on an open approval recorded in the store.
import { AgentAws, type SendObserver } from '../aws/clients.js';
import { AgentSession } from '../aws/session.js';
import { roleFor, type AgentContext } from '../core/agent.js';
import { log } from '../core/log.js';
import type { ToolPorts } from '../core/ports.js';
import { notify } from '../notify/notify.js';
import type { ProjectPolicy } from '../policy/schema.js';
import type { Store } from '../store/store.js';

/** The agent's SDK clients: its own assumed role (per tier), writes gated on an open approval of this agent in `store`. */
export function awsFor(agent: AgentContext, store: Store, observe?: SendObserver): AgentAws {
  const session = new AgentSession({
    agentId: agent.id,
    projectId: agent.projectId,
    roleArn: roleFor(agent),
    sessionSeconds: agent.agent.session_seconds,
  });
  return new AgentAws(session, (id, who) => store.audit.isOpenApproval(id, who), observe);
}

/** Clients under a project's approver role, for a plan a human approved; never the agent's own role. */
export function approverAws(approver: string, projectId: string, roleArn: string, store: Store, observe?: SendObserver): AgentAws {
  const session = new AgentSession({ agentId: `approver-${approver}`, projectId, roleArn, sessionSeconds: 900 });
  return new AgentAws(session, (id, who) => store.audit.isOpenApproval(id, who), observe);
}

/** The narrow view of the store a tool of `projectId` gets. */
export function portsFor(store: Store, projectId: string, project: ProjectPolicy): ToolPorts {
  return {
    clock: () => store.clock(),
    deployments: store.deployments,
    desired: store.desired,
    jobs: store.jobs,
    proposals: store.proposals,
    rates: store.rates,
    ledger: store.ledger,
    backups: store.backups,
    notify: (n) => {
      try {
        notify(store, project, { ...n, project: projectId });
      } catch (e) {
        log.error(`notification failed: ${(e as Error).message}`);
      }
    },
  };
}
