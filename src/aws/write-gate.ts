// The AWS layer's own lock: no mutating command leaves the process without a committed, open "approved" audit event.
import { AsyncLocalStorage } from 'node:async_hooks';

/** Everything the AWS layer knows about the tool call it is serving. */
export interface CallScope {
  agent: string;
  tool: string;
  /** Set only while the executor of an approved plan runs. */
  approvalId?: string;
  /** AWS request ids of every command sent in this call, for the audit row. */
  requestIds: string[];
}

const scope = new AsyncLocalStorage<CallScope>();

export function inCallScope<T>(s: CallScope, fn: () => Promise<T>): Promise<T> {
  return scope.run(s, fn);
}

/** Runs an executor with write permission tied to one approved audit event. */
export function withApproval<T>(approvalId: string, fn: () => Promise<T>): Promise<T> {
  const outer = scope.getStore();
  if (!outer) throw new Error('withApproval outside a tool call');
  return scope.run({ ...outer, approvalId }, fn);
}

export function currentScope(): CallScope | undefined {
  return scope.getStore();
}

const READ_PREFIXES = /^(Describe|Get|List|Head|Lookup|Search)[A-Z]/;

/** Reads by name; anything else (including names we do not recognise) is treated as a write. */
export function isReadCommand(commandName: string): boolean {
  return READ_PREFIXES.test(commandName);
}

export class WriteRefused extends Error {
  override name = 'WriteRefused';
}

/** Answers whether an event id is a committed "approved" event of this agent that has no outcome yet. */
export type ApprovalCheck = (approvalId: string, agent: string) => boolean;

export function checkWrite(command: string, check: ApprovalCheck): void {
  if (isReadCommand(command)) return;
  const s = scope.getStore();
  if (!s?.approvalId)
    throw new WriteRefused(`${command} refused by the AWS layer: no approved audit event (writes run only after the guard approves)`);
  if (!check(s.approvalId, s.agent))
    throw new WriteRefused(`${command} refused by the AWS layer: ${s.approvalId} is not an open approval of agent ${s.agent}`);
}
