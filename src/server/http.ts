// `aws-warden serve --http`: one process serving every agent of the policy over Streamable HTTP (both protocol eras,
// per request). Each request names its agent by its bearer token alone (`wardenctl agents token issue`), checked on
// every request, so a revocation or an expiry holds from the next one; the agent needs no AWS credentials, only the
// warden host holds the base ones. In front of the MCP handler: the Host and Origin checks against DNS rebinding and a
// bound on the body. Behind it, each agent's calls take the same guard as on stdio, with that agent's rate limits.
import { shownLocation } from '../store/sql.js';
import { createMcpHandler, localhostAllowedHostnames, localhostAllowedOrigins, type Server } from '@modelcontextprotocol/server';
import { hostHeaderValidation, originValidation, toNodeHandler } from '@modelcontextprotocol/node';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveAgent } from '../core/agent.js';
import { log } from '../core/log.js';
import { readPolicyFile } from '../policy/load.js';
import { TOOL_NAMES } from '../tools/names.js';
import type { ToolHandlers } from './create-server.js';
import { CallTracker } from './drain.js';
import { eraFactory } from './era-factory.js';
import { HttpAuth } from './http-auth.js';
import { readJsonBody } from './http-body.js';
import { openServedStore } from './open.js';
import { PolicyFile } from './policy-file.js';
import { PolicyWatcher } from './policy-watch.js';

export interface HttpOptions {
  policyFile: string;
  dbFile: string;
  /** HOST:PORT to listen on; loopback unless said otherwise. */
  listen: string;
  /** Host names a non-loopback listener answers to (what the TLS proxy in front forwards as Host). */
  allowedHosts?: string[];
  /** Browser origins allowed to call (none by default: MCP clients that are not browsers send no Origin). */
  allowedOrigins?: string[];
  /** The largest request body accepted, in bytes. */
  maxBodyBytes?: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-f:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new Error(`--listen: expected HOST:PORT such as 127.0.0.1:8787, got "${text}"`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

export async function serveHttp(opts: HttpOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const { host, port } = parseListen(opts.listen);
  const loaded = readPolicyFile(opts.policyFile, TOOL_NAMES);
  // The policy as it is at each request: an agent added, removed or remapped applies from the next one, no restart.
  const policy = new PolicyFile(opts.policyFile, TOOL_NAMES, loaded);
  const store = openServedStore(opts.dbFile);
  const tracker = new CallTracker();
  const graceMs = loaded.policy.shutdown_grace_seconds * 1000;
  // Each agent's guard, built at its first request (the tools and the AWS SDK load then) and kept.
  const guards = new Map<string, Promise<ToolHandlers>>();
  const latest = new Map<string, Server>();
  const guardOf = (agentId: string): Promise<ToolHandlers> => {
    let g = guards.get(agentId);
    if (!g) {
      const agent = resolveAgent(policy.current().policy, agentId);
      const watcher = new PolicyWatcher(policy, agent.id);
      g = import('./build.js').then(
        (m) => m.guard({ agent, store, watcher, graceMs }, () => latest.get(agentId) as Server, tracker, {}).handlers,
      );
      guards.set(agentId, g);
    }
    return g;
  };
  const handler = createMcpHandler(
    ({ era, authInfo }) => {
      const agentId = authInfo?.clientId as string;
      return eraFactory(
        () => guardOf(agentId),
        (server) => latest.set(agentId, server),
      )({ era });
    },
    { onerror: (e) => log.error(`MCP over HTTP: ${e.message}`) },
  );
  const maxBody = opts.maxBodyBytes ?? 4 * 2 ** 20;
  const mcp = toNodeHandler(handler, { maxRequestBodySize: maxBody, onerror: (e) => log.error(`HTTP: ${e.message}`) });
  // On loopback, the local names (a TLS proxy on this host may forward its public name: --allowed-hosts).
  const local = LOOPBACK.has(host);
  const validHost = hostHeaderValidation([...(local ? localhostAllowedHostnames() : [host]), ...(opts.allowedHosts ?? [])]);
  const validOrigin = originValidation([...(local ? localhostAllowedOrigins() : []), ...(opts.allowedOrigins ?? [])]);

  let url = '';
  const auth = new HttpAuth(
    store,
    () => policy.current().policy,
    () => policy.current().policy.http?.resource_url ?? url,
  );
  /** 401 as RFC 6750 and the MCP authorization spec say: why, and where the resource's metadata is. */
  const unauthorized = (res: ServerResponse, why: string) => {
    res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': auth.challenge(why) });
    res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: `unauthorized: ${why}` }, id: null }));
  };
  const tooLarge = (res: ServerResponse) => {
    res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`request body over ${maxBody} bytes\n`);
  };
  const serve = async (req: IncomingMessage & { auth?: unknown }, res: ServerResponse) => {
    if (!validHost(req, res) || !validOrigin(req, res)) return;
    const path = new URL(req.url ?? '/', 'http://warden').pathname;
    if (req.method === 'GET' && auth.isMetadataPath(path)) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      return void res.end(JSON.stringify(auth.metadata()));
    }
    if (path !== '/mcp') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return void res.end('aws-warden serves MCP at /mcp\n');
    }
    if (Number(req.headers['content-length'] ?? 0) > maxBody) return tooLarge(res);
    const m = /^Bearer ([^\s]+)$/.exec(req.headers.authorization ?? '');
    if (!m) return unauthorized(res, 'no bearer token (wardenctl agents token issue AGENT)');
    // One policy for the whole request: the token is checked and its agent looked up under the same one.
    const now = policy.current().policy;
    const who = await auth.check(m[1], now);
    if ('refused' in who) return unauthorized(res, who.refused);
    // Only an agent of the policy in force now is served: one removed since its token was issued is refused here.
    if (!Object.hasOwn(now.agents, who.agent)) return unauthorized(res, `agent ${who.agent} is not in the policy`);
    if (tracker.closing) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
      return void res.end('aws-warden is shutting down and admits no new calls\n');
    }
    req.auth = { token: who.id, clientId: who.agent, scopes: [] };
    if (req.method !== 'POST') return void (await mcp(req as never, res));
    const body = await readJsonBody(req, maxBody);
    if ('tooLarge' in body) return tooLarge(res);
    if ('invalid' in body) {
      res.writeHead(400, { 'content-type': 'application/json' });
      return void res.end(
        JSON.stringify({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error: the request body is not valid JSON' }, id: null }),
      );
    }
    // An empty body is the SDK's to refuse; its stream is spent, so it reads nothing again.
    await mcp(req as never, res, body.parsed);
  };
  const server = createServer((req, res) => void serve(req, res).catch((e: unknown) => log.error(`HTTP: ${(e as Error).message}`)));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as AddressInfo;
  url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}/mcp`;
  log.info(`serving the agents of ${opts.policyFile} over ${url}; audit in ${shownLocation(opts.dbFile)}`);
  const close = async () => {
    await tracker.drain(graceMs);
    await new Promise<void>((r) => server.close(() => r()));
    await handler.close().catch(() => {});
    store.close();
  };
  return { url, close };
}
