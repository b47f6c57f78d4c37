// createServer(deps): an MCP server whose only tool handler is the guarded path; tools/list shows what the tier grants.
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolRequest,
  type CallToolResult,
  type ListToolsRequest,
  type ListToolsResult,
  type ServerNotification,
  type ServerRequest,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { AgentAws } from '../aws/clients.js';
import type { Store } from '../store/store.js';
import { allTools } from '../tools/index.js';
import { isMutating, type ToolSpec } from '../tools/tool.js';
import type { AgentContext } from '../core/agent.js';
import { withCurrentTier } from '../trust/tiers.js';
import { recordRefusal, recordUnknownTool, runCall } from '../registry/lifecycle.js';
import { inputSchemaOf, outputSchemaOf } from '../registry/tool-io.js';
import { traceparentOf } from '../core/trace.js';
import { oneLine } from '../util/terminal.js';
import type { CallTracker } from './drain.js';
import type { PolicyWatcher } from './policy-watch.js';
import { SERVER_INFO, SERVER_OPTIONS } from './info.js';
import { ProgressStream } from './progress.js';
import { answerWithin } from './long-call.js';
import { toToolResult } from './result.js';
import { TierWatch } from './tier-watch.js';

export { SERVER_INFO, SERVER_OPTIONS };

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
  const handlers = toolHandlers(server, deps);
  server.onclose = () => handlers.close();
  server.setRequestHandler(ListToolsRequestSchema, handlers.list);
  server.setRequestHandler(CallToolRequestSchema, handlers.call);
  return server;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface ToolHandlers {
  list(request: ListToolsRequest, extra: Extra): Promise<ListToolsResult>;
  call(request: CallToolRequest, extra: Extra): Promise<CallToolResult>;
  /** Stops watching the agent's tier. */
  close(): void;
}

/** tools/list and tools/call of the guarded path, for `server` (which asks the person at the client for consent). */
export function toolHandlers(server: Server, deps: ServerDeps): ToolHandlers {
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
    () => void server.sendToolListChanged().catch(() => {}),
  );

  const call = async (request: CallToolRequest, extra: Extra): Promise<CallToolResult> => {
    const spec = tools.get(request.params.name);
    const traceparent = traceparentOf(request.params._meta);
    // Per the MCP spec an unknown tool is a protocol error (-32602), and it is on the audit record.
    if (!spec)
      throw new McpError(ErrorCode.InvalidParams, recordUnknownTool(deps, request.params.name, request.params.arguments, traceparent));
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
    const canElicit = Boolean(server.getClientCapabilities()?.elicitation);
    const client = `client:${oneLine(String(server.getClientVersion()?.name ?? 'unknown-client')).slice(0, 64)}`;
    let keepProgress: ((message: string) => void) | undefined;
    let lastProgress: string | undefined;
    const progress = new ProgressStream(async (value, total, message) => {
      if (message) {
        lastProgress = message;
        keepProgress?.(message);
      }
      // Once answered (handed to a job), the request's progress token is spent: the job keeps the progress instead.
      if (token === undefined || keepProgress) return;
      await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: value, total, message } });
    });
    // The call follows the request's cancellation until it is handed to a job (a change past long_call_seconds).
    const follow = new AbortController();
    const forward = () => follow.abort(extra.signal.reason);
    if (extra.signal.aborted) forward();
    else extra.signal.addEventListener('abort', forward, { once: true });
    const rows: { first?: string; newest?: string } = {};
    const run = () =>
      runCall(spec, request.params.arguments, callDeps, {
        signal: follow.signal,
        onRecorded: (id) => {
          rows.first ??= id;
          rows.newest = id;
        },
        cancelledBy: client,
        traceparent,
        tools: [...tools.values()],
        consent: canElicit
          ? async (message, planHash) => {
              try {
                const answer = await server.elicitInput({
                  mode: 'form',
                  message,
                  requestedSchema: {
                    type: 'object',
                    properties: { approve: { type: 'boolean', title: 'Approve exactly this plan', description: `plan hash ${planHash}` } },
                    required: ['approve'],
                  },
                });
                // The client chose its own name: kept short and printable, since it becomes the approver of record.
                const who = `in-client:${oneLine(String(server.getClientVersion()?.name ?? 'unknown-client')).slice(0, 64)}`;
                return { approved: answer.action === 'accept' && answer.content?.approve === true, who };
              } catch {
                // A client that cannot answer leaves the proposal for wardenctl.
                return { approved: false, who: '' };
              }
            }
          : undefined,
        progress: (done, total, message) => progress.report(done, total, message),
      });
    const running = deps.tracker ? deps.tracker.track(run) : run();
    const agent = callDeps.agent;
    const answer = isMutating(spec)
      ? await answerWithin(running, {
          store: deps.store,
          project: agent.projectId,
          agent: agent.id,
          tool: spec.name,
          args: request.params.arguments,
          boundSeconds: agent.policy.long_call_seconds,
          rows,
          detach: () => extra.signal.removeEventListener('abort', forward),
          onProgress: (keep) => {
            keepProgress = keep;
            // What it had reached at the bound, until it reports more.
            if (lastProgress) keep(lastProgress);
          },
        })
      : toToolResult(await running);
    tierWatch.check();
    return answer;
  };
  tierWatch.start();
  return { list, call, close: () => tierWatch.stop() };
}
