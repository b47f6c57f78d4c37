// get_database_credentials: a short-lived IAM authentication token for a declared database, signed by the agent's own
// role. Staging answers directly; a production database needs a human first (a proposal whose approval opens access
// for the policy's access_minutes), then the agent's next call gets its token. The token is never stored.
import { Signer } from '@aws-sdk/rds-signer';
import { z } from 'zod';
import { declaredDatabase } from '../databases/declared.js';
import type { RiskFlag } from '../guard/types.js';
import { databaseName } from './get-database.js';
import { defineTool, humanReason, noParams, type ToolContext } from './tool.js';

export const name = 'get_database_credentials';

/** An IAM auth token is valid for 15 minutes from signing. */
const TOKEN_MINUTES = 15;

const input = z
  .object({
    database: databaseName,
    db_user: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,62}$/, 'a database user name (letters, digits, _; enabled for IAM authentication)'),
    reason: humanReason('what you need the database for; for production a human reads this'),
  })
  .strict();

const output = z.object({
  database: z.string(),
  host: z.string(),
  port: z.number(),
  db_user: z.string(),
  token: z.string().describe('use as the password; TLS required'),
  expires_at: z.string(),
  access: z.string().describe('how this access was allowed'),
});

/** The approval that lets this agent reach this database as this user now, if one is open. */
function openAccess(ctx: ToolContext, database: string, dbUser: string): { proposal: string; until: string } | null {
  const now = ctx.ports.clock().toISOString();
  for (const p of ctx.ports.proposals.list({ state: 'executed', project: ctx.agent.projectId }).reverse()) {
    if (p.tool !== name || p.agent !== ctx.agent.id) continue;
    const applied =
      (JSON.parse(p.result ?? '{}') as { applied?: { database?: string; db_user?: string; access_until?: string }[] }).applied ?? [];
    const a = applied.find((x) => x.database === database && x.db_user === dbUser);
    if (a?.access_until && a.access_until > now) return { proposal: p.id, until: a.access_until };
  }
  return null;
}

export const getDatabaseCredentials = defineTool({
  name,
  title: 'Get database credentials',
  description:
    'Returns a 15-minute IAM authentication token for a declared database, signed by your own role. A production database needs a human first: the call becomes a proposal, and once approved your next call within the approved time gets the token. Audited either way; the token is never stored.',
  input,
  output,
  // Not a read: it hands out access, so it runs (and escalates) as a change does, with its approval on the record.
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  params: noParams,
  iam: { read: ['rds:DescribeDBInstances'], db_connect: ['rds-db:connect'] },
  reasonOf: (args) => args.reason,
  secretOutput: ['token'],
  lockKey: (args, agent) => `dbaccess:${agent.id}:${args.database}:${args.db_user}`,
  /** After a crash: nothing changed in AWS, and a token is never handed out after the caller is gone. */
  async recover() {
    return { outcome: 'undone' as const, why: 'a token is never issued after a restart; call get_database_credentials again', detail: {} };
  },
  async plan(args, ctx) {
    const { policy, state, resource } = await declaredDatabase(ctx.aws, ctx.agent, args.database, 'read');
    const prod = policy.environment === 'prod';
    const open = prod ? openAccess(ctx, args.database, args.db_user) : null;
    const needsHuman = prod && !open;
    const riskFlags: RiskFlag[] = needsHuman ? ['production_database'] : [];
    return {
      tool: name,
      summary: needsHuman
        ? `allow ${ctx.agent.id} to connect to production database ${args.database} (${state.identifier}) as ${args.db_user} for ${policy.access_minutes} minutes`
        : `an IAM auth token for ${args.database} (${state.identifier}) as ${args.db_user}`,
      mutating: true,
      operations: needsHuman
        ? [
            {
              action: 'warden:AllowDatabaseAccess',
              target: state.identifier,
              params: { database: args.database, db_user: args.db_user, minutes: policy.access_minutes },
            },
          ]
        : [{ action: 'rds-db:connect', target: state.identifier, params: { db_user: args.db_user } }],
      resources: [resource],
      tagsToSet: {},
      costDeltaUsdMonth: 0,
      riskFlags,
      rollback: [],
      preconditions: open ? { approved_by: open.proposal, access_until: open.until } : { environment: policy.environment },
      params: {},
    };
  },
  async execute(_plan, args, ctx) {
    const { policy, state, region } = await declaredDatabase(ctx.aws, ctx.agent, args.database, 'read');
    if (!state.endpoint) throw new Error(`${state.identifier} has no endpoint yet (status ${state.status})`);
    const [host, port] = state.endpoint.split(':');
    // The plan allowed it; reaching a production database still needs the approval open now, not only at planning.
    const open = policy.environment === 'prod' ? openAccess(ctx, args.database, args.db_user) : null;
    if (policy.environment === 'prod' && !open) throw new Error(`access to production database ${args.database} is not approved now`);
    const token = await new Signer({
      hostname: host,
      port: Number(port),
      username: args.db_user,
      region,
      credentials: ctx.aws.session.provider,
    }).getAuthToken();
    return {
      database: args.database,
      host,
      port: Number(port),
      db_user: args.db_user,
      token,
      expires_at: new Date(ctx.ports.clock().getTime() + TOKEN_MINUTES * 60_000).toISOString(),
      access: open ? `approved in ${open.proposal}, until ${open.until}` : `${policy.environment} database: no approval needed`,
    };
  },
  summarize: (o) => `a ${TOKEN_MINUTES}-minute token for ${o.database} as ${o.db_user} at ${o.host}:${o.port} (${o.access})`,
});
