// `aws-warden serve --http`: one process serving several agents, each named by its own bearer token and never by an
// argument; tokens issued, listed and revoked with wardenctl, revocation and expiry holding from the next request, and
// the policy's agents as the file says at each request;
// Host/Origin checks and a body bound in front of the MCP handler; both protocol eras per request.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { Store } from '../src/store/store.js';
import { admin, call, fresh, world } from './helpers/harness.js';
import { CLI, spawnHttpServe } from './helpers/serve-process.js';

const CTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');

const w = world({
  projectYaml: `    in_client_consent: [critical_tag]
    approver_role_arn: "arn:aws:iam::123456789012:role/{project}-approver"`,
});
const root = mkdtempSync(join(tmpdir(), 'warden-http-'));
const policyFile = join(root, 'policy.yaml');
const dbFile = join(root, 'warden.db');
writeFileSync(policyFile, w.yaml);
const ctl = (...args: string[]) =>
  spawnSync(process.execPath, [CTL, ...args, '--policy', policyFile, '--db', dbFile], { encoding: 'utf8', input: '' });

let server: ChildProcess;
let url = '';
const tokens: Record<string, string> = {};

beforeAll(async () => {
  Store.open(dbFile).close();
  for (const agent of [w.agent, w.observer]) {
    const r = ctl('agents', 'token', 'issue', agent, '--json');
    expect(r.status, r.stderr).toBe(0);
    tokens[agent] = (JSON.parse(r.stdout) as { token: string }).token;
  }
  const served = await spawnHttpServe(policyFile, dbFile);
  server = served.child;
  url = served.url;
}, 90_000);

afterAll(() => server?.kill());

async function client(token: string, era: 'modern' | 'legacy', onElicit?: () => { action: 'accept'; content: { approve: boolean } }) {
  const c = new Client(
    { name: `http-${era}`, version: '0' },
    {
      capabilities: onElicit ? { elicitation: { form: {} } } : {},
      ...(era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' as const } } } : {}),
    },
  );
  if (onElicit) c.setRequestHandler('elicitation/create', async () => onElicit());
  await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return c;
}

/**
 * A request by hand (another Host header; a Content-Length over the bound, of which only the first byte is sent, so
 * the answer cannot race the upload): its status.
 */
function raw(headers: Record<string, string>, body: string, declaredLength = Buffer.byteLength(body)): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: '/mcp', method: 'POST', headers: { 'content-length': String(declaredLength), ...headers } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    if (declaredLength > Buffer.byteLength(body)) req.write(body);
    else req.end(body);
  });
}

/** A body sent chunked (no Content-Length), 64 KiB at a time until the server answers or `bytes` are sent: its status. */
function chunked(headers: Record<string, string>, bytes: number): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({ host: u.hostname, port: u.port, path: '/mcp', method: 'POST', headers }, (res) => {
      answered = true;
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', (e: NodeJS.ErrnoException) => (['ECONNRESET', 'EPIPE'].includes(e.code ?? '') ? undefined : reject(e)));
    const piece = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const more = () => {
      while (!answered && sent < bytes) {
        sent += piece.length;
        if (!req.write(piece)) return void req.once('drain', more);
      }
      if (!answered) req.end();
    };
    more();
  });
}

const post = (headers: Record<string, string>, body = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}') =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });

describe('aws-warden serve --http', () => {
  it.each(['modern', 'legacy'] as const)(
    'serves two agents from one process, each as its token says (%s era)',
    { timeout: 60_000 },
    async (era) => {
      const bot = await client(tokens[w.agent], era);
      const obs = await client(tokens[w.observer], era);
      try {
        expect((await call(bot, 'get_status', {})).structured?.agent).toBe(w.agent);
        expect((await call(obs, 'get_status', {})).structured?.agent).toBe(w.observer);
        expect((await obs.listTools()).tools.map((t) => t.name).sort()).toEqual(['get_status', 'list_resources']);
        expect((await bot.listTools()).tools.length).toBeGreaterThan(2);
        // The observer's tier has no tag_resource: its token cannot reach another agent's tools.
        const denied = await call(obs, 'tag_resource', {
          resource_arn: 'arn:aws:ec2:us-east-1:123456789012:instance/i-0',
          set: { A: 'b' },
        });
        expect(denied.isError).toBe(true);
      } finally {
        await bot.close();
        await obs.close();
      }
      const store = Store.open(dbFile);
      try {
        const agents = new Set(store.audit.tail({ limit: 20 }).map((e) => e.agent));
        expect(agents).toContain(w.agent);
        expect(agents).toContain(w.observer);
      } finally {
        store.close();
      }
    },
  );

  it('consent by input_required works over stateless HTTP: the retry carries everything', { timeout: 60_000 }, async () => {
    const bot = await client(tokens[w.agent], 'modern', () => ({ action: 'accept', content: { approve: true } }));
    try {
      const critical = await launchTagged(admin.ec2(), { ProjectId: w.project, Criticality: 'critical' });
      const r = await call(bot, 'tag_resource', { resource_arn: critical, set: { Owner: 'ops' } });
      expect(r.structured, r.text).toMatchObject({ status: 'executed' });
    } finally {
      await bot.close();
    }
  });

  it('answers 401 with WWW-Authenticate to no token, a wrong one, and an expired one', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: `Bearer ${tokens[w.agent].slice(0, -2)}xx` },
      { authorization: 'Bearer hunter2' },
    ]) {
      const res = await post(headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(
        /^Bearer realm="aws-warden", resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp", error="invalid_token"/,
      );
    }
    const store = Store.open(dbFile);
    const expired = store.tokens.issue(w.agent, 'test', new Date(Date.now() - 1000)).token;
    store.close();
    const res = await post({ authorization: `Bearer ${expired}` });
    expect(res.status).toBe(401);
    expect(await res.text()).toMatch(/expired/);
  });

  it('a token revoked with wardenctl in another process is refused from the next request', { timeout: 60_000 }, async () => {
    const issued = ctl('agents', 'token', 'issue', w.observer, '--expires', '1h', '--json');
    const { token, id } = JSON.parse(issued.stdout) as { token: string; id: string };
    expect((await post({ authorization: `Bearer ${token}` })).status).toBe(200);
    const listed = ctl('agents', 'token', 'list', '--agent', w.observer);
    expect(listed.stdout).toMatch(new RegExp(`${id}.*live`));
    const r = ctl('agents', 'token', 'revoke', id);
    expect(r.status, r.stderr).toBe(0);
    const res = await post({ authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(await res.text()).toMatch(/revoked/);
    expect(ctl('agents', 'token', 'list', '--agent', w.observer).stdout).toMatch(new RegExp(`${id}.*revoked`));
    expect(ctl('agents', 'token', 'revoke', id).status).toBe(1);
    // Issuing and revoking are in the chain, and it verifies.
    const store = Store.open(dbFile);
    try {
      const rows = store.audit.tail({ limit: 200 }).filter((e) => e.tool === 'agent_token');
      expect(rows.map((e) => e.action)).toEqual(expect.arrayContaining(['issue', 'revoke']));
      expect(store.audit.verify().ok).toBe(true);
    } finally {
      store.close();
    }
  });

  it(
    'an agent added to the policy while serving is served from its next request, and refused once removed',
    { timeout: 60_000 },
    async () => {
      const late = fresh('late');
      const withLate = w.yaml.replace(
        '\nagents:\n',
        `\nagents:\n  ${late}: { project: ${w.project}, tier: observer, role_arn: "arn:aws:iam::123456789012:role/${late}" }\n`,
      );
      expect(withLate).toContain(late);
      writeFileSync(policyFile, withLate);
      try {
        const issued = ctl('agents', 'token', 'issue', late, '--json');
        expect(issued.status, issued.stderr).toBe(0);
        const { token } = JSON.parse(issued.stdout) as { token: string };
        const c = await client(token, 'modern');
        try {
          expect((await call(c, 'get_status', {})).structured?.agent).toBe(late);
        } finally {
          await c.close();
        }
        writeFileSync(policyFile, w.yaml);
        const res = await post({ authorization: `Bearer ${token}` });
        expect(res.status).toBe(401);
        expect(await res.text()).toContain(`agent ${late} is not in the policy`);
      } finally {
        writeFileSync(policyFile, w.yaml);
      }
    },
  );

  it('stores no secret: the database holds only digests of the tokens', () => {
    const store = Store.open(dbFile);
    try {
      const dump = JSON.stringify(store.tokens.list()) + JSON.stringify(store.audit.tail({ limit: 500 }));
      // The secret is everything after `wdn_<id>_` (base64url: it may hold underscores itself).
      for (const t of Object.values(tokens)) {
        const secret = t.slice('wdn_'.length + 13);
        expect(secret).toHaveLength(43);
        expect(dump).not.toContain(secret);
      }
    } finally {
      store.close();
    }
  });

  it('refuses a browser origin it does not know (DNS rebinding), a Host it does not serve, and a body over the bound', async () => {
    const auth = { authorization: `Bearer ${tokens[w.agent]}` };
    expect((await post({ ...auth, origin: 'https://evil.example' })).status).toBe(403);
    expect((await post({ ...auth, origin: 'http://localhost:3000' })).status).toBe(200);
    expect(await raw({ ...auth, 'content-type': 'application/json' }, '{', 5 * 2 ** 20)).toBe(413);
    // fetch will not send another Host header; a raw request does.
    const host = await raw({ host: 'evil.example', ...auth }, '{}');
    expect(host).toBe(403);
  });

  it(
    'bounds a body sent without a Content-Length as it arrives, and answers a body that is not JSON with a parse error',
    { timeout: 60_000 },
    async () => {
      const auth = {
        authorization: `Bearer ${tokens[w.agent]}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      };
      expect(await chunked(auth, 6 * 2 ** 20)).toBe(413);
      const bad = await post({ authorization: `Bearer ${tokens[w.agent]}` }, '{"jsonrpc":"2.0","id":1,');
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ error: { code: -32700 }, id: null });
      // Under the bound, a body sent chunked is served as any other.
      expect(await chunked(auth, 0)).not.toBe(413);
      const ok = await post({ authorization: `Bearer ${tokens[w.agent]}` });
      expect(ok.status).toBe(200);
    },
  );

  it('refuses --agent with --http, and a malformed --listen, before serving anything', () => {
    const a = spawnSync(process.execPath, [CLI, 'serve', '--http', '--agent', w.agent, '--policy', policyFile, '--db', dbFile], {
      encoding: 'utf8',
    });
    expect(a.status).toBe(2);
    expect(a.stderr).toMatch(/--agent is not for --http/);
    const b = spawnSync(process.execPath, [CLI, 'serve', '--http', '--listen', 'nowhere', '--policy', policyFile, '--db', dbFile], {
      encoding: 'utf8',
    });
    expect(b.status).toBe(2);
    expect(b.stderr).toMatch(/--listen: expected HOST:PORT/);
  });
});
