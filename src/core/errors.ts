// The ways a planner or executor says "no" or "undone", and the server cannot say who it acts for: shared by tools, the registry, the server and the commands.

/** A refusal the planner decides (bad reference, unknown name): audited as denied, told to the agent. */
export class Refusal extends Error {
  override name = 'Refusal';
  constructor(
    message: string,
    /** The guard rule the refusal belongs to, for the audit (input by default). */
    readonly rule: string = 'input',
  ) {
    super(message);
  }
}

/** The executor ran its rollback plan (a failed health check, a resource no longer owned): audited as rolled_back, humans notified. */
export class RolledBack extends Error {
  override name = 'RolledBack';
  constructor(
    message: string,
    readonly detail: Record<string, unknown>,
    /**
     * Why it was undone: a failed health check counts toward demotion; a resource someone else took away, a change
     * a crash interrupted, or an AWS call that failed, does not count against the agent.
     */
    readonly trigger: 'health' | 'ownership' | 'interrupted' | 'aws_failure' = 'health',
  ) {
    super(message);
  }
}

/**
 * The executor tried to undo its change and could not prove it did: what is left is named, the outcome is `failed`
 * (never "rolled back"), and humans are told.
 */
export class RollbackIncomplete extends Error {
  override name = 'RollbackIncomplete';
  constructor(
    message: string,
    readonly detail: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** No agent, or one the policy does not name: the server cannot know who it acts for. */
export class IdentityError extends Error {
  override name = 'IdentityError';
}
