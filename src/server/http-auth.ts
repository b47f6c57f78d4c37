// Who an HTTP request acts for, from its bearer token alone: a wardenctl-issued token (`wdn_…`, checked against the
// store), or, where the policy names an OAuth issuer, a JWT access token (signature by the issuer's JWKS, `iss`, `aud`,
// expiry) whose claim the policy maps to an agent. Per the MCP authorization spec, the server publishes Protected
// Resource Metadata and every 401 points to it.
import { createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Policy } from '../policy/schema.js';
import type { Store } from '../store/store.js';

export type Who = { agent: string; id: string } | { refused: string };

const METADATA_PATH = '/.well-known/oauth-protected-resource';

export class HttpAuth {
  /** The issuer's key set, fetched and cached by jose; made again when the policy names another jwks_uri. */
  private jwks: { uri: string; keys: JWTVerifyGetKey } | undefined;

  constructor(
    private readonly store: Store,
    /** The policy in force now (for the metadata): an edited issuer is published from the next request. */
    private readonly policyNow: () => Policy,
    /** The URL clients reach /mcp at (known once the listener is bound). */
    private readonly resourceUrl: () => string,
  ) {}

  private keysOf(uri: string): JWTVerifyGetKey {
    if (this.jwks?.uri !== uri)
      this.jwks = { uri, keys: createRemoteJWKSet(new URL(uri), { timeoutDuration: 5000, cooldownDuration: 30_000 }) };
    return this.jwks.keys;
  }

  get resource(): string {
    return this.resourceUrl();
  }

  /** Where the metadata of `resource` lives (RFC 9728: the well-known prefix before the resource's path). */
  get metadataUrl(): string {
    const u = new URL(this.resource);
    return `${u.origin}${METADATA_PATH}${u.pathname === '/' ? '' : u.pathname}`;
  }

  /** The paths the metadata is served at. */
  isMetadataPath(path: string): boolean {
    return path === METADATA_PATH || path === new URL(this.metadataUrl).pathname;
  }

  metadata(): Record<string, unknown> {
    const oauth = this.policyNow().http?.oauth;
    return {
      resource: this.resource,
      authorization_servers: oauth ? [oauth.issuer] : [],
      bearer_methods_supported: ['header'],
      resource_name: 'aws-warden',
    };
  }

  /** The WWW-Authenticate value of a 401. */
  challenge(why: string): string {
    return `Bearer realm="aws-warden", resource_metadata="${this.metadataUrl}", error="invalid_token", error_description="${why.replace(/["\\\r\n]/g, '')}"`;
  }

  /** Who `bearer` acts for under `policy`, the one this request is served under (an edited mapping holds from the next). */
  async check(bearer: string, policy: Policy): Promise<Who> {
    if (bearer.startsWith('wdn_')) return this.store.tokens.check(bearer);
    const oauth = policy.http?.oauth;
    if (!oauth) return { refused: 'not an aws-warden token, and the policy names no OAuth issuer' };
    let payload;
    try {
      ({ payload } = await jwtVerify(bearer, this.keysOf(oauth.jwks_uri), {
        issuer: oauth.issuer,
        audience: oauth.audience,
        clockTolerance: 30,
      }));
    } catch (e) {
      const code = e instanceof errors.JOSEError ? e.code : 'ERR_INVALID';
      return { refused: `invalid access token (${code}: ${(e as Error).message})` };
    }
    const value = payload[oauth.agent_claim];
    if (typeof value !== 'string') return { refused: `the access token has no string claim "${oauth.agent_claim}"` };
    const agent = oauth.agents ? (Object.hasOwn(oauth.agents, value) ? oauth.agents[value] : undefined) : value;
    if (!agent || !Object.hasOwn(policy.agents, agent))
      return { refused: `the access token's ${oauth.agent_claim} "${value.slice(0, 64)}" names no agent of the policy` };
    return { agent, id: `jwt:${String(payload.jti ?? value).slice(0, 64)}` };
  }
}
