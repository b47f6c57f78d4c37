// createServer(deps): an MCP server whose only tool handler is the guarded path; tools/list shows what the tier grants.
import {
  CLIENT_CAPABILITIES_META_KEY,
  CLIENT_INFO_META_KEY,
  ProtocolError,
  ProtocolErrorCode,
  SdkError,
  SdkErrorCode,
  Server,
  type CallToolRequest,
  type CallToolResult,
  type ClientCapabilities,
  type Implementation,
  type InputRequiredResult,
  type ListToolsResult,
  type ServerContext,
  type Tool,
} from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { AgentAws } from '../aws/clients.js';
import type { Store } from '../store/store.js';
import { allTools } from '../tools/index.js';
import { isMutating, type ToolSpec } from '../tools/tool.js';
import type { AgentContext } from '../core/agent.js';
import { withCurrentTier } from '../trust/tiers.js';
import { recordRefusal, recordUnknownTool, runCall, type CallExtras, type ConsentAsk } from '../registry/lifecycle.js';
import { inputSchemaOf, outputSchemaOf } from '../registry/tool-io.js';
import { traceparentOf } from '../core/trace.js';
import { answerOf, argsDigest, ConsentRounds, consentForm, clientName } from './consent.js';
import { retryWithConsent } from './consent-retry.js';
import type { CallTracker } from './drain.js';
import type { PolicyWatcher } from './policy-watch.js';
import { SERVER_INFO, SERVER_OPTIONS } from './info.js';
import { ProgressStream } from './progress.js';
import { answerWithin } from './long-call.js';
import { toToolResult } from './result.js';
import { TierWatch } from './tier-watch.js';

export { SERVER_INFO, SERVER_OPTIONS };
export { eraFactory } from './era-factory.js';

export interface ServerDeps {
  agent: AgentContext;
  store: Store;
  aws: AgentAws;
  tools?: readonly ToolSpec[];
  /** The calls in flight, for a graceful shutdown; once it is closing, new calls are refused on the record. */
  tracker?: CallTracker;
  /** The policy file as it is now: re-read when it changes, so an edit applies from the next call. */
  policy?: PolicyWatcher;
  /** Why calls cannot run yet (the demo's emulator still starting), or null once they can. */
  notReady?: () => string | null;
}

function describe(spec: ToolSpec): Tool {
  return {
    name: spec.name,
    title: spec.title,
    description: spec.description,
    inputSchema: z.toJSONSchema(inputSchemaOf(spec), { io: 'input' }) as Tool['inputSchema'],
    outputSchema: z.toJSONSchema(outputSchemaOf(spec), { io: 'output' }) as Tool['outputSchema'],
    annotations: { title: spec.title, ...spec.annotations },
  };
}

export function createServer(deps: ServerDeps): Server {
  const server = new Server(SERVER_INFO, SERVER_OPTIONS);
  const handlers = toolHandlers(() => server, deps);
  server.onclose = () => handlers.close();
  server.setRequestHandler('tools/list', handlers.list);
  server.setRequestHandler('tools/call', handlers.call);
  return server;
}

export interface ToolHandlers {
  list(request: unknown, ctx: ServerContext): Promise<ListToolsResult>;
  call(request: CallToolRequest, ctx: ServerContext): Promise<CallToolResult | InputRequiredResult>;
  /** Stops watching the agent's tier. */
  close(): void;
}

/** Who the client is and what it can do: from the request's own envelope (2026-07-28), else from its handshake. */
function clientOf(server: Server, ctx: ServerContext): { modern: boolean; info?: Implementation; capabilities?: ClientCapabilities } {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  if (envelope && CLIENT_CAPABILITIES_META_KEY in envelope)
    return {
      modern: true,
      info: envelope[CLIENT_INFO_META_KEY] as Implementation | undefined,
      capabilities: envelope[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined,
    };
  return { modern: false, info: server.getClientVersion(), capabilities: server.getClientCapabilities() };
}

/** The request was aborted because the connection closed (not cancelled by the client): the call runs to its outcome. */
const connectionClosed = (reason: unknown) => reason instanceof SdkError && reason.code === SdkErrorCode.ConnectionClosed;

/**
 * tools/list and tools/call of the guarded path. `peer` is the server instance serving the connection now (the stdio
 * entry may build one per era); it tells list changes and the handshake's client.
 */
export function toolHandlers(peer: () => Server, deps: ServerDeps): ToolHandlers {
  const tools = new Map((deps.tools ?? allTools).map((t) => [t.name, t]));
  const listing = [...tools.values()].map(describe);
  const tierNow = () => withCurrentTier(deps.store, deps.policy?.current().agent ?? deps.agent);
  const list = async (): Promise<ListToolsResult> => {
    const { tier, tierName } = tierNow();
    tierWatch.seen(tierName);
    return { tools: listing.filter((t) => tier.tools.includes(t.name)) };
  };
  const tierWatch = new TierWatch(
    () => tierNow().tierName,
    () =>
      void peer()
        .sendToolListChanged()
        .catch(() => {}),
  );

  const rounds = new ConsentRounds();
  const call = async (request: CallToolRequest, ctx: ServerContext): Promise<CallToolResult | InputRequiredResult> => {
    const spec = tools.get(request.params.name);
    const traceparent = traceparentOf(request.params._meta);
    // Per the MCP spec an unknown tool is a protocol error (-32602), and it is on the audit record.
    if (!spec)
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        recordUnknownTool(deps, request.params.name, request.params.arguments, traceparent),
      );
    const refused = (rule: string, text: string) => ({
      isError: true,
      content: [{ type: 'text' as const, text: recordRefusal(deps, spec.name, rule, text, traceparent) }],
    });
    if (deps.tracker?.closing)
      return refused(
        'shutdown',
        `${spec.name} refused: aws-warden is shutting down and admits no new calls; nothing was done — call again once it has restarted`,
      );
    const waiting = deps.notReady?.();
    if (waiting) return refused('starting', `${spec.name} refused: ${waiting}; nothing was done — call again shortly`);
    // The policy file as it is now: an edit applies from this call on.
    const now = deps.policy?.current();
    if (now && !now.agent) return refused('policy', `${spec.name} refused: ${now.refused}; nothing was done`);
    const callDeps = now?.agent ? { ...deps, agent: now.agent } : deps;
    const token = request.params._meta?.progressToken;
    const client = clientOf(peer(), ctx);
    const name = clientName(client.info?.name);
    const who = `in-client:${name}`;
    const agent = callDeps.agent;
    const boundSeconds = agent.policy.long_call_seconds;
    // A 2026-07-28 retry that carries a consent round's answer: it decides that proposal, and runs nothing else.
    const state = client.modern ? ctx.mcpReq.requestState<string>() : undefined;
    if (typeof state === 'string')
      return retryWithConsent(
        { raw: state, ctx, answer: answerOf(ctx), who, spec, args: request.params.arguments, traceparent, boundSeconds, rounds },
        { ...callDeps, tools: [...tools.values()], tracker: deps.tracker },
      );
    let asked: ConsentAsk | undefined;
    const canElicit = Boolean(client.capabilities?.elicitation);
    const consent: CallExtras['consent'] = !canElicit
      ? undefined
      : client.modern
        ? // Asked in the answer (input_required); the proposal waits meanwhile, for the retry or for wardenctl.
          async (ask) => ((asked = ask), { approved: false, who: '' })
        : async (ask) => {
            try {
              const answer = await ctx.mcpReq.elicitInput(consentForm(ask));
              return { approved: answer.action === 'accept' && answer.content?.approve === true, who };
            } catch {
              // A client that cannot answer leaves the proposal for wardenctl.
              return { approved: false, who: '' };
            }
          };
    let keepProgress: ((message: string) => void) | undefined;
    let lastProgress: string | undefined;
    const progress = new ProgressStream(async (value, total, message) => {
      if (message) {
        lastProgress = message;
        keepProgress?.(message);
      }
      // Once answered (handed to a job), the request's progress token is spent: the job keeps the progress instead.
      if (token === undefined || keepProgress) return;
      await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: value, total, message } });
    });
    // The call follows the request's cancellation until it is handed to a job (a change past long_call_seconds).
    const follow = new AbortController();
    const signal = ctx.mcpReq.signal;
    // A client that leaves (stdin closed) does not stop a change midway; a cancellation from the client does.
    const forward = () => void (connectionClosed(signal.reason) || follow.abort(signal.reason));
    if (signal.aborted) forward();
    else signal.addEventListener('abort', forward, { once: true });
    const rows: { first?: string; newest?: string } = {};
    const run = () =>
      runCall(spec, request.params.arguments, callDeps, {
        signal: follow.signal,
        onRecorded: (id) => {
          rows.first ??= id;
          rows.newest = id;
        },
        cancelledBy: `client:${name}`,
        traceparent,
        tools: [...tools.values()],
        consent,
        progress: (done, total, message) => progress.report(done, total, message),
      });
    const running = deps.tracker ? deps.tracker.track(run) : run();
    const answer = isMutating(spec)
      ? await answerWithin(running, {
          store: deps.store,
          project: agent.projectId,
          agent: agent.id,
          tool: spec.name,
          args: request.params.arguments,
          boundSeconds,
          rows,
          detach: () => signal.removeEventListener('abort', forward),
          onProgress: (keep) => {
            keepProgress = keep;
            // What it had reached at the bound, until it reports more.
            if (lastProgress) keep(lastProgress);
          },
        })
      : toToolResult(await running);
    tierWatch.check();
    // The person at a 2026-07-28 client is asked in the answer; the retry carries their answer and this state.
    if (asked && (answer.structuredContent as { status?: string } | undefined)?.status === 'pending_approval')
      return rounds.ask(asked, { agent: agent.id, tool: spec.name, args_sha256: argsDigest(request.params.arguments) });
    return answer;
  };
  tierWatch.start();
  return { list, call, close: () => tierWatch.stop() };
}
