// Bearer tokens wardenctl issues per agent for `serve --http`. A token is `wdn_<id>_<secret>`: the id is public (lists,
// revocation, the audit), the secret is shown once and only its SHA-256 is stored. A presented token is found by its
// id and its secret compared in constant time; expiry and revocation hold from the very next request.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { stmt, type Db } from './db.js';

export interface TokenRow {
  id: string;
  agent: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

const FORMAT = /^wdn_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
const digest = (secret: string) => createHash('sha256').update(secret).digest();

export class AgentTokens {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** A new token for `agent`; the returned string is the only copy of its secret. */
  issue(agent: string, by: string, expiresAt: Date | null): { token: string; row: TokenRow } {
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const now = this.clock().toISOString();
    stmt(this.db, 'INSERT INTO agent_tokens (id, agent, secret_sha256, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?)').run(
      id,
      agent,
      digest(secret).toString('hex'),
      now,
      by,
      expiresAt?.toISOString() ?? null,
    );
    return { token: `wdn_${id}_${secret}`, row: this.get(id) as TokenRow };
  }

  get(id: string): TokenRow | undefined {
    return stmt(this.db, 'SELECT id, agent, created_at, created_by, expires_at, revoked_at, revoked_by FROM agent_tokens WHERE id = ?').get(
      id,
    ) as TokenRow | undefined;
  }

  list(agent?: string): TokenRow[] {
    const cols = 'id, agent, created_at, created_by, expires_at, revoked_at, revoked_by';
    return (
      agent
        ? stmt(this.db, `SELECT ${cols} FROM agent_tokens WHERE agent = ? ORDER BY created_at, id`).all(agent)
        : stmt(this.db, `SELECT ${cols} FROM agent_tokens ORDER BY created_at, id`).all()
    ) as TokenRow[];
  }

  /** Revokes a live token; false if it does not exist or was already revoked. */
  revoke(id: string, by: string): boolean {
    return (
      stmt(this.db, 'UPDATE agent_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL').run(
        this.clock().toISOString(),
        by,
        id,
      ).changes === 1
    );
  }

  /** The agent a presented token acts for, or why it does not. Never says whether an unknown id exists. */
  check(presented: string): { agent: string; id: string } | { refused: string } {
    const m = FORMAT.exec(presented);
    if (!m) return { refused: 'not an aws-warden token' };
    const [, id, secret] = m;
    const row = stmt(this.db, 'SELECT agent, secret_sha256, expires_at, revoked_at FROM agent_tokens WHERE id = ?').get(id) as
      { agent: string; secret_sha256: string; expires_at: string | null; revoked_at: string | null } | undefined;
    // An unknown id costs the same hash and comparison as a known one.
    const stored = Buffer.from(row?.secret_sha256 ?? '0'.repeat(64), 'hex');
    const matches = timingSafeEqual(digest(secret), stored) && row !== undefined;
    if (!matches) return { refused: 'unknown or wrong token' };
    if (row.revoked_at) return { refused: `token ${id} was revoked at ${row.revoked_at}` };
    if (row.expires_at && Date.parse(row.expires_at) <= this.clock().getTime())
      return { refused: `token ${id} expired at ${row.expires_at}` };
    return { agent: row.agent, id };
  }
}
