// wardenctl agents token issue|list|revoke: the bearer tokens agents present to `aws-warden serve --http`.
import { tableOf } from '../../src/cli/table.js';
import { ExitError, parse, UsageError } from '../../src/cli/run-main.js';
import type { TokenRow } from '../../src/store/agent-tokens.js';
import type { Store } from '../../src/store/store.js';
import { HELP, printHelp } from './help.js';
import { actingHuman } from './human.js';
import { loadPolicy } from './policy.js';
import { readStore, withStore } from './store.js';

const UNITS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000 };

/** `30d`, `12h`, `90m`: when a token issued now stops working. */
export function expiryOf(text: string, now = new Date()): Date {
  const m = /^([1-9][0-9]{0,5})([dhm])$/.exec(text);
  if (!m) throw new UsageError(`--expires: expected a duration such as 30d, 12h or 90m, got "${text}"`);
  return new Date(now.getTime() + Number(m[1]) * UNITS[m[2]]);
}

function audited(store: Store, who: string, project: string, action: 'issue' | 'revoke', row: TokenRow): void {
  store.audit.append({
    kind: 'executed',
    agent: `human:${who}`,
    project,
    tool: 'agent_token',
    action,
    decision: { outcome: 'allow', rule: 'human', token: row.id, for_agent: row.agent, expires_at: row.expires_at },
  });
}

export async function agentsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      agent: { type: 'string' },
      expires: { type: 'string' },
      as: { type: 'string' },
      policy: { type: 'string' },
      db: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP.agents,
    3,
  );
  if (values.help) return printHelp(HELP.agents);
  const [noun, verb, arg] = positionals;
  if (noun !== 'token')
    throw new UsageError(`expected \`agents token issue|list|revoke\`, got "${positionals.join(' ')}"\n\n${HELP.agents}`);
  if (verb === 'list')
    return readStore(values.db, ({ store }) => {
      const rows = store.tokens.list(values.agent);
      if (values.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return 0;
      }
      const table = tableOf(['id', 'agent', 'created', 'by', 'expires', 'state'], { keep: ['id'] });
      const now = Date.now();
      for (const r of rows)
        table.push([
          r.id,
          r.agent,
          r.created_at,
          r.created_by,
          r.expires_at ?? 'never',
          r.revoked_at
            ? `revoked ${r.revoked_at} by ${r.revoked_by}`
            : r.expires_at && Date.parse(r.expires_at) <= now
              ? 'expired'
              : 'live',
        ]);
      process.stdout.write(`${table.toString()}\n`);
      return 0;
    });
  if (verb === 'issue') {
    if (!arg) throw new UsageError(`agents token issue: name the agent\n\n${HELP.agents}`);
    const policy = loadPolicy(values.policy);
    const agent = Object.hasOwn(policy.agents, arg) ? policy.agents[arg] : undefined;
    if (!agent) throw new ExitError(2, `unknown agent "${arg}" (the policy's agents: ${Object.keys(policy.agents).join(', ')})`);
    const expires = values.expires ? expiryOf(values.expires) : null;
    const who = actingHuman(values.as, values.policy);
    return withStore(values.db, ({ store }) => {
      const issued = store.transaction(() => {
        const t = store.tokens.issue(arg, who, expires);
        audited(store, who, agent.project, 'issue', t.row);
        return t;
      });
      if (values.json) process.stdout.write(`${JSON.stringify({ ...issued.row, token: issued.token }, null, 2)}\n`);
      else
        process.stdout.write(
          `token ${issued.row.id} for ${arg}, expires ${issued.row.expires_at ?? 'never'} — shown once, store it now:\n${issued.token}\n`,
        );
      return 0;
    });
  }
  if (verb === 'revoke') {
    if (!arg) throw new UsageError(`agents token revoke: name the token id (wardenctl agents token list)\n\n${HELP.agents}`);
    const who = actingHuman(values.as, values.policy);
    return withStore(values.db, ({ store }) => {
      const row = store.tokens.get(arg);
      if (!row) throw new ExitError(2, `no token ${JSON.stringify(arg)} (wardenctl agents token list)`);
      const done = store.transaction(() => {
        if (!store.tokens.revoke(arg, who)) return false;
        audited(store, who, loadPolicyProject(values.policy, row.agent), 'revoke', row);
        return true;
      });
      if (!done) throw new ExitError(1, `token ${arg} was already revoked at ${row.revoked_at}`);
      process.stdout.write(`token ${arg} of ${row.agent} revoked: the next request with it is refused\n`);
      return 0;
    });
  }
  throw new UsageError(`expected \`agents token issue|list|revoke\`, got "${positionals.join(' ')}"\n\n${HELP.agents}`);
}

/** The project an agent belongs to, for the audit row; an agent since removed from the policy is recorded as such. */
function loadPolicyProject(policyFile: string | undefined, agent: string): string {
  try {
    const policy = loadPolicy(policyFile);
    return Object.hasOwn(policy.agents, agent) ? policy.agents[agent].project : '(not in the policy)';
  } catch {
    return '(policy unreadable)';
  }
}
