// `aws-warden serve --http` as an OAuth 2.1 resource server: a JWT access token from the policy's issuer, checked by
// the issuer's JWKS (signature), `iss`, `aud` and expiry, names its agent by the claim the policy maps; anything else
// is a 401 that points to the Protected Resource Metadata, which the server publishes.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../src/store/store.js';
import { call, world } from './helpers/harness.js';
import { spawnHttpServe } from './helpers/serve-process.js';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'aws-warden-test';
let jwks: Server;
let server: ChildProcess;
let url = '';
let key: CryptoKey;
let other: CryptoKey;
let agent = '';
let policyFile = '';
let yaml = '';

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  key = pair.privateKey;
  other = (await generateKeyPair('RS256')).privateKey;
  const publicKey = { ...(await exportJWK(pair.publicKey)), alg: 'RS256', kid: 'k1', use: 'sig' };
  jwks = createServer(
    (_req, res) => (res.writeHead(200, { 'content-type': 'application/json' }), res.end(JSON.stringify({ keys: [publicKey] }))),
  );
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  const port = (jwks.address() as { port: number }).port;
  const w = world({
    topYaml: `http:
  oauth: { issuer: "${ISSUER}", jwks_uri: "http://127.0.0.1:${port}/jwks", audience: ${AUDIENCE}, agent_claim: azp, agents: { client-abc: "{agent}" } }`,
  });
  agent = w.agent;
  const root = mkdtempSync(join(tmpdir(), 'warden-oauth-'));
  policyFile = join(root, 'policy.yaml');
  yaml = w.yaml;
  writeFileSync(policyFile, yaml);
  const dbFile = join(root, 'warden.db');
  Store.open(dbFile).close();
  const served = await spawnHttpServe(policyFile, dbFile);
  server = served.child;
  url = served.url;
}, 90_000);

afterAll(() => {
  server?.kill();
  jwks?.close();
});

function token(claims: Record<string, unknown>, opts: { iss?: string; aud?: string; exp?: string | number; signer?: CryptoKey } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(opts.signer ?? key);
}

const post = (bearer: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${bearer}` },
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}',
  });

describe('serve --http as an OAuth resource server', () => {
  it('a valid access token acts as the agent its mapped claim names', { timeout: 60_000 }, async () => {
    const c = new Client({ name: 'oauth', version: '0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    const t = await token({ azp: 'client-abc', sub: 'someone' });
    await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${t}` } } }));
    try {
      expect((await call(c, 'get_status', {})).structured?.agent).toBe(agent);
    } finally {
      await c.close();
    }
  });

  it.each([
    ['another audience', () => token({ azp: 'client-abc' }, { aud: 'someone-else' }), /ERR_JWT_CLAIM_VALIDATION_FAILED/],
    ['another issuer', () => token({ azp: 'client-abc' }, { iss: 'https://evil.test' }), /ERR_JWT_CLAIM_VALIDATION_FAILED/],
    ['an expired token', () => token({ azp: 'client-abc' }, { exp: Math.floor(Date.now() / 1000) - 3600 }), /ERR_JWT_EXPIRED/],
    ['a key the issuer does not publish', () => token({ azp: 'client-abc' }, { signer: other }), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/],
    ['a claim the policy maps to no agent', () => token({ azp: 'client-xyz' }), /names no agent/],
    ['no agent claim at all', () => token({ sub: 'client-abc' }), /no string claim \\"azp\\"/],
    [
      'an unsigned token',
      async () =>
        `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ azp: 'client-abc', iss: ISSUER, aud: AUDIENCE })).toString('base64url')}.`,
      /invalid access token/,
    ],
  ])('refuses %s with a 401 that points to the resource metadata', async (_what, make, why) => {
    const res = await post(await make());
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain(
      `resource_metadata="${new URL(url).origin}/.well-known/oauth-protected-resource/mcp"`,
    );
    expect(await res.text()).toMatch(why);
  });

  it('a mapping edited in the policy applies from the next request: the old claim is refused, the new one served', async () => {
    const old = await token({ azp: 'client-abc' });
    const moved = await token({ azp: 'client-new' });
    expect((await post(old)).status).toBe(200);
    expect((await post(moved)).status).toBe(401);
    writeFileSync(policyFile, yaml.replace('client-abc:', 'client-new:'));
    try {
      const refused = await post(old);
      expect(refused.status).toBe(401);
      expect(await refused.text()).toMatch(/azp \\"client-abc\\" names no agent/);
      expect((await post(moved)).status).toBe(200);
    } finally {
      writeFileSync(policyFile, yaml);
    }
    expect((await post(old)).status).toBe(200);
  });

  it('publishes Protected Resource Metadata naming the issuer', async () => {
    const res = await fetch(`${new URL(url).origin}/.well-known/oauth-protected-resource/mcp`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      resource: url,
      authorization_servers: [ISSUER],
      bearer_methods_supported: ['header'],
      resource_name: 'aws-warden',
    });
  });
});
