// The AWS layer's own lock: a mutating command leaves the process only as one of the operations of a committed,
// still-open "approved" plan, on that plan's resources, and only while the project still owns them.
import { AsyncLocalStorage } from 'node:async_hooks';
import { permitRefusal, type Permit } from './permit.js';

/** Everything the AWS layer knows about the tool call it is serving. */
export interface CallScope {
  agent: string;
  tool: string;
  /** Set only while the executor of an approved plan runs (the registry opens it; nothing else may). */
  permit?: Permit;
  /** AWS request ids of every command sent in this call, for the audit row. */
  requestIds: string[];
  /** Aborts every AWS request of the call when its deadline passes (or the client cancels). */
  signal?: AbortSignal;
}

const scope = new AsyncLocalStorage<CallScope>();

export function inCallScope<T>(s: CallScope, fn: () => Promise<T>): Promise<T> {
  return scope.run(s, fn);
}

/** Runs an executor with write permission for exactly one approved plan. Only the registry calls this. */
export function withPermit<T>(permit: Permit, fn: () => Promise<T>): Promise<T> {
  const outer = scope.getStore();
  if (!outer) throw new Error('withPermit outside a tool call');
  return scope.run({ ...outer, permit }, fn);
}

/**
 * Runs `fn` without the call's deadline: what must happen even after it passed — asking AWS what a request that may
 * have acted did, and undoing it — is bounded by the request timeouts alone.
 */
export function withoutDeadline<T>(fn: () => Promise<T>): Promise<T> {
  const outer = scope.getStore();
  return outer ? scope.run({ ...outer, signal: undefined }, fn) : fn();
}

export function currentScope(): CallScope | undefined {
  return scope.getStore();
}

/** The approval the running executor acts under (its audit event id), or an error if it runs under none. */
export function currentApproval(): string {
  const id = scope.getStore()?.permit?.approvalId;
  if (!id) throw new WriteRefused('this step runs only inside an approved plan');
  return id;
}

const READ_PREFIXES = /^(Describe|Get|List|Head|Lookup|Search)[A-Z]/;

/** Reads by name; anything else (including names we do not recognise) is treated as a write. */
export function isReadCommand(commandName: string): boolean {
  return READ_PREFIXES.test(commandName);
}

export class WriteRefused extends Error {
  override name = 'WriteRefused';
}

/** A resource the plan named is no longer the project's: not touched. Executors catch it to undo what they did. */
export class OwnershipLost extends WriteRefused {
  override name = 'OwnershipLost';
  constructor(
    message: string,
    readonly resource: string,
  ) {
    super(message);
  }
}

/** Answers whether an event id is a committed "approved" event of this agent that has no outcome yet. */
export type ApprovalCheck = (approvalId: string, agent: string) => boolean;

/** Refuses a mutating command outside an open approved plan, or outside that plan's operations and resources. */
export function checkWrite(service: string, command: string, acts: readonly string[], check: ApprovalCheck): Permit | null {
  if (isReadCommand(command)) return null;
  const s = scope.getStore();
  if (!s?.permit)
    throw new WriteRefused(`${command} refused by the AWS layer: no approved audit event (writes run only after the guard approves)`);
  if (!check(s.permit.approvalId, s.agent))
    throw new WriteRefused(`${command} refused by the AWS layer: ${s.permit.approvalId} is not an open approval of agent ${s.agent}`);
  const why = permitRefusal(s.permit, `${service}:${command}`, acts);
  if (why) throw new WriteRefused(`${command} refused by the AWS layer: ${why}`);
  return s.permit;
}
