// The policy file as a running server reads it: one stat per look, re-read when it changes. A broken edit is reported
// once and the last valid policy kept, with why beside it; every reader of one file (each agent's watcher, the HTTP
// server's authentication) sees the same snapshot.
import { statSync } from 'node:fs';
import { log } from '../core/log.js';
import { PolicyError, readPolicyFile } from '../policy/load.js';
import type { Policy } from '../policy/schema.js';

export interface PolicySnapshot {
  /** The last valid policy. */
  policy: Policy;
  sha256: string;
  loadedAt: string;
  /** Why the file as it is now was not taken (the policy above is the last valid one), or null. */
  problem: string | null;
}

const stampOf = (file: string): string => {
  try {
    const s = statSync(file);
    return `${s.mtimeMs}:${s.size}:${s.ino}`;
  } catch (e) {
    return `unreadable:${(e as NodeJS.ErrnoException).code ?? ''}`;
  }
};

export class PolicyFile {
  private stamp: string;
  private snapshot: PolicySnapshot;

  constructor(
    readonly file: string,
    private readonly knownTools: readonly string[],
    initial: { policy: Policy; sha256: string },
  ) {
    this.stamp = stampOf(file);
    this.snapshot = { policy: initial.policy, sha256: initial.sha256, loadedAt: new Date().toISOString(), problem: null };
  }

  /** The policy in force now: the same object until the file changes. */
  current(): PolicySnapshot {
    const stamp = stampOf(this.file);
    if (stamp === this.stamp) return this.snapshot;
    this.stamp = stamp;
    let next: { policy: Policy; sha256: string };
    try {
      next = readPolicyFile(this.file, this.knownTools);
    } catch (e) {
      const problem = e instanceof PolicyError ? e.problems.slice(0, 5).join('; ') : (e as Error).message;
      log.error(
        `policy ${this.file} changed but is not valid; keeping the last valid one (${this.snapshot.sha256.slice(0, 12)}): ${problem}`,
      );
      this.snapshot = { ...this.snapshot, problem };
      return this.snapshot;
    }
    if (next.sha256 === this.snapshot.sha256) {
      if (this.snapshot.problem) this.snapshot = { ...this.snapshot, problem: null };
      return this.snapshot;
    }
    this.snapshot = { policy: next.policy, sha256: next.sha256, loadedAt: new Date().toISOString(), problem: null };
    return this.snapshot;
  }
}
