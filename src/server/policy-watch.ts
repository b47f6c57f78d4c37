// One agent under the policy file as it is now (see PolicyFile), so a demotion or a tighter budget applies from the
// next call. A broken edit keeps the last valid policy, with why beside it; an edit that takes this server's agent
// away (or moves it to another project) refuses every call until the agent is back (or, moved, until a restart).
import { resolveAgent, type AgentContext } from '../core/agent.js';
import { log } from '../core/log.js';
import type { PolicyFile, PolicySnapshot } from './policy-file.js';

export type PolicyState = { agent: AgentContext; refused: null } | { agent: null; refused: string };

export class PolicyWatcher {
  private seen: PolicySnapshot;
  private state: PolicyState;
  /** The project this server acts in: its AWS session is tagged with it, so it never changes while it runs. */
  private readonly project: string;

  /** `source`: the policy file, which other readers (the HTTP server's authentication, other agents) may share. */
  constructor(
    private readonly source: PolicyFile,
    private readonly agentId: string,
  ) {
    this.seen = this.source.current();
    const agent = resolveAgent(this.seen.policy, agentId);
    this.project = agent.projectId;
    this.state = { agent: this.withSource(agent, this.seen), refused: null };
  }

  private withSource(agent: AgentContext, s: PolicySnapshot): AgentContext {
    const problem = s.problem ? `the edited policy is not valid (kept the last valid one): ${s.problem}` : null;
    return { ...agent, policySource: { sha256: s.sha256, loadedAt: s.loadedAt, problem } };
  }

  /** The agent under the policy in force now. */
  current(): PolicyState {
    const now = this.source.current();
    if (now === this.seen) return this.state;
    const before = this.seen;
    this.seen = now;
    // The same valid policy: only whether the file as it is now was taken has changed.
    if (now.sha256 === before.sha256) {
      if (this.state.agent) this.state = { agent: this.withSource(this.state.agent, now), refused: null };
      return this.state;
    }
    let agent: AgentContext;
    try {
      agent = resolveAgent(now.policy, this.agentId);
    } catch (e) {
      this.state = {
        agent: null,
        refused: `the policy now in force does not serve this agent (${(e as Error).message}); restart the server with an agent of the policy`,
      };
      log.error(this.state.refused);
      return this.state;
    }
    if (agent.projectId !== this.project) {
      this.state = {
        agent: null,
        refused: `the policy moved ${this.agentId} from project ${this.project} to ${agent.projectId}; this server refuses every call until it is restarted`,
      };
      log.error(this.state.refused);
      return this.state;
    }
    this.state = { agent: this.withSource(agent, now), refused: null };
    log.info(`policy ${this.source.file} reloaded (${now.sha256.slice(0, 12)}): ${agent.id} is ${agent.tierName} in ${agent.projectId}`);
    return this.state;
  }
}
