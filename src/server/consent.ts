// In-client consent, in each protocol era. A 2025-era client is asked mid-call (elicitation/create) while the call holds
// its locks. A 2026-07-28 client gets an `input_required` result naming the proposal's exact plan hash, and retries the
// same call with the person's answer: the retry approves exactly the proposal the signed request state names, on
// wardenctl's approval path, or it is refused on the record (tampered or expired state, another call, a changed plan,
// a proposal already decided or expired, a class the policy no longer lets the client approve).
import {
  createRequestStateCodec,
  inputRequired,
  inputResponse,
  type CallToolResult,
  type InputRequiredResult,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { randomBytes } from 'node:crypto';
import type { ConsentAsk } from '../registry/lifecycle.js';
import { canonicalJson, sha256 } from '../util/canonical.js';
import { oneLine } from '../util/terminal.js';

/** The question, as an elicitation form: one boolean, the plan hash in its description. */
export function consentForm(ask: Pick<ConsentAsk, 'message' | 'planHash'>) {
  return {
    mode: 'form' as const,
    message: ask.message,
    requestedSchema: {
      type: 'object' as const,
      properties: { approve: { type: 'boolean' as const, title: 'Approve exactly this plan', description: `plan hash ${ask.planHash}` } },
      required: ['approve'],
    },
  };
}

/** The client's own name as the record shows it (approver `in-client:<name>`, canceller `client:<name>`): short, printable. */
export const clientName = (name: unknown) => oneLine(String(name ?? 'unknown-client')).slice(0, 64);

/** What a consent round's signed state says was asked: this agent's call of this tool with these arguments. */
export interface ConsentState {
  proposal: string;
  plan_hash: string;
  agent: string;
  tool: string;
  args_sha256: string;
  classes: string[];
}

export const argsDigest = (args: unknown) => sha256(canonicalJson(args ?? {}));

/** The answer a retry carries, as the person gave it. */
export type ConsentAnswer = { kind: 'approve' } | { kind: 'decline'; why: string } | { kind: 'missing' };

export function answerOf(ctx: ServerContext): ConsentAnswer {
  const view = inputResponse(ctx.mcpReq.inputResponses, 'approve');
  if (view.kind === 'missing') return { kind: 'missing' };
  if (view.kind !== 'elicit') return { kind: 'decline', why: `the client answered with ${view.kind}, not the form` };
  if (view.action !== 'accept') return { kind: 'decline', why: `the person chose ${view.action}` };
  return view.content?.approve === true ? { kind: 'approve' } : { kind: 'decline', why: 'the person did not approve' };
}

/** Mints and checks the state of consent rounds; the key lives in this process only, so a restart voids open rounds. */
export class ConsentRounds {
  private readonly codec: ReturnType<typeof createRequestStateCodec<ConsentState>>;

  constructor(readonly ttlSeconds = 900) {
    this.codec = createRequestStateCodec<ConsentState>({ key: randomBytes(32), ttlSeconds });
  }

  async ask(ask: ConsentAsk, state: Omit<ConsentState, 'proposal' | 'plan_hash' | 'classes'>): Promise<InputRequiredResult> {
    return inputRequired({
      inputRequests: { approve: inputRequired.elicit(consentForm(ask)) },
      requestState: await this.codec.mint({ ...state, proposal: ask.proposalId, plan_hash: ask.planHash, classes: [...ask.classes] }),
    });
  }

  /** The state a retry carries, if this server minted it and it has not expired; else why not. */
  async read(raw: string, ctx: ServerContext): Promise<ConsentState | string> {
    try {
      return await this.codec.verify(raw, ctx);
    } catch (e) {
      return `the request state is not one this server issued in the last ${this.ttlSeconds} s (${(e as Error).message})`;
    }
  }
}

/** A tool result that says no, with nothing done. */
export const refusedResult = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] });
