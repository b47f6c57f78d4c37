// The policy file as a running server sees it: re-read when it changes (one stat per call), so a demotion or a
// tighter budget applies from the next call. A broken edit is reported and the last valid policy kept; an edit that
// takes this server's agent away (or moves it to another project) refuses every call until a restart.
import { statSync } from 'node:fs';
import { resolveAgent, type AgentContext } from '../core/agent.js';
import { log } from '../core/log.js';
import { PolicyError, readPolicyFile } from '../policy/load.js';
import type { Policy } from '../policy/schema.js';

export type PolicyState = { agent: AgentContext; refused: null } | { agent: null; refused: string };

const stampOf = (file: string): string => {
  try {
    const s = statSync(file);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  } catch (e) {
    return `unreadable:${(e as NodeJS.ErrnoException).code ?? ''}`;
  }
};

export class PolicyWatcher {
  private stamp: string;
  private state: PolicyState;
  private sha256: string;
  private loadedAt: string;
  /** The project this server acts in: its AWS session is tagged with it, so it never changes while it runs. */
  private readonly project: string;

  constructor(
    private readonly file: string,
    private readonly agentId: string,
    private readonly knownTools: readonly string[],
    initial: { policy: Policy; sha256: string },
  ) {
    this.stamp = stampOf(file);
    this.sha256 = initial.sha256;
    this.loadedAt = new Date().toISOString();
    const agent = resolveAgent(initial.policy, agentId);
    this.project = agent.projectId;
    this.state = { agent: this.withSource(agent, null), refused: null };
  }

  private withSource(agent: AgentContext, problem: string | null): AgentContext {
    return { ...agent, policySource: { sha256: this.sha256, loadedAt: this.loadedAt, problem } };
  }

  /** The agent under the policy in force now. */
  current(): PolicyState {
    const stamp = stampOf(this.file);
    if (stamp === this.stamp) return this.state;
    this.stamp = stamp;
    let next: { policy: Policy; sha256: string };
    try {
      next = readPolicyFile(this.file, this.knownTools);
    } catch (e) {
      const problem = e instanceof PolicyError ? e.problems.slice(0, 5).join('; ') : (e as Error).message;
      log.error(`policy ${this.file} changed but is not valid; keeping the last valid one (${this.sha256.slice(0, 12)}): ${problem}`);
      if (this.state.agent)
        this.state = {
          agent: this.withSource(this.state.agent, `the edited policy is not valid (kept the last valid one): ${problem}`),
          refused: null,
        };
      return this.state;
    }
    if (next.sha256 === this.sha256 && this.state.agent) return this.state;
    let agent: AgentContext;
    try {
      agent = resolveAgent(next.policy, this.agentId);
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
    this.sha256 = next.sha256;
    this.loadedAt = new Date().toISOString();
    this.state = { agent: this.withSource(agent, null), refused: null };
    log.info(`policy ${this.file} reloaded (${this.sha256.slice(0, 12)}): ${agent.id} is ${agent.tierName} in ${agent.projectId}`);
    return this.state;
  }
}
