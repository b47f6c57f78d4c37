// wardenctl's help texts, one per command.
const DB = `  --db FILE|URL  the audit store: an SQLite file or a postgres:// URL (env WARDEN_DB, default ./warden.db)\n`;

export const HELP = {
  main: `Usage: wardenctl <command> [options]

Commands:
  audit tail     the newest audit events
  audit verify   recompute the hash chain; exit 1 if any row was edited, deleted or reordered
  audit export   every event as JSON lines, for your own archive or SIEM
  status         what the store holds: events per agent, chain state
  budget         per project: cap, held, reserved, left, month to date, projection
  budget reconcile   make the ledger agree with what each project holds in AWS
  proposals list|show|approve|reject   decide what agents could only suggest
  prices         what the bundled price table knows
  notifications  what humans were told (rollbacks, escalations, proposals) and webhook delivery
  trust          each agent's tier in force and its record (successes, rollbacks, denials, escapes)
  iam render|apply|check   the IAM roles the policy implies: print, create/update, or report drift
  schedule list|cancel     jobs held for a deploy window and the worker's periodic checks
  backups        the newest backup verification of each site and service
  agents token issue|list|revoke   bearer tokens for agents served over HTTP
  store copy     copy a whole store into a new one (SQLite ⇄ PostgreSQL); the chain verifies there

Options (each command's --help lists the ones it takes; the same option means the same everywhere):
${DB}  --json         machine-readable output, on every command that prints data
  -h, --help     help for a command (wardenctl audit --help, wardenctl audit tail --help)
  -V, --version  print wardenctl's version

Exit codes: 0 ok, 1 a finding (e.g. a broken chain), 2 usage or environment error — an id that names
nothing (no such proposal or job) is one too.
`,
  audit: `Usage: wardenctl audit tail|verify|export [options]

  tail     the newest events, oldest first (--agent A, --limit N)
  verify   recompute the hash chain; exit 1 naming the first row edited, deleted or reordered (--head HASH)
  export   every event as JSON lines (--since TIME)
${DB}  --json         tail and verify as JSON; export always writes JSON lines

Each verb's --help says more: wardenctl audit tail --help
`,
  tail: `Usage: wardenctl audit tail [--agent A] [--limit N] [--json] [--db FILE]

Shows the newest events, oldest first.
  --agent A      only this agent's events
  --limit N      how many (default 20, at most 10000)
${DB}  --json         one JSON array

Example: wardenctl audit tail --agent web-bot --limit 50
`,
  verify: `Usage: wardenctl audit verify [--full] [--head HASH] [--anchors [--policy FILE]] [--json] [--db FILE]

Checks the SHA-256 chain. Exit 0 when it holds, 1 naming the first bad row. Every row's link and
sequence are checked, and every checkpoint (the head kept every 10,000 rows) against its row; the
rows after the newest checkpoint are re-hashed.
  --full         re-hash every row, which also finds a row whose content alone was edited before
                 the newest checkpoint (seconds per million rows)
  --head HASH    a head hash you recorded earlier (verify prints it): fails if it is no longer in
                 the chain, which catches rows deleted from the end
  --anchors      also check every anchor the worker wrote to the policy's anchors bucket (every
                 version of each): a store rewritten from some row on, which verifies by itself,
                 no longer matches the anchors written before; no anchor at all is a finding too
  --policy FILE  the policy naming the anchors bucket and role (env WARDEN_POLICY, default ./policy.yaml)
${DB}  --json         the result as JSON
`,
  export: `Usage: wardenctl audit export [--since TIME] [--json] [--db FILE] > events.jsonl

Writes every event (at or after TIME, ISO 8601) as one JSON object per line, with hashes.
${DB}  --json         accepted for symmetry: export is always JSON lines

Example: wardenctl audit export --since 2026-11-01T00:00:00Z > november.jsonl
`,
  budget: `Usage: wardenctl budget [--project P] [--policy FILE] [--json] [--db FILE]

Per project: the cap this UTC month (policy plus approved increases), the run-rate held, what in-flight
changes reserved, what is left, month-to-date spend from resource-hours held, the month-end projection,
unpriced resources and pending budget requests.
  --policy FILE  the policy with the caps (env WARDEN_POLICY, default ./policy.yaml)
${DB}`,
  reconcile: `Usage: wardenctl budget reconcile [--project P] [--policy FILE] [--json] [--db FILE]

Reads what each project holds in AWS (EC2 instances and EBS volumes tagged ProjectId=<project>) with your
own AWS credentials, and makes the ledger agree: resources gone from AWS release their cost, owned
resources missing from the ledger are added (they count; one with no known price blocks new spending),
reservations with no outcome after an hour are released. Exit 1 when it had to change anything.
${DB}`,
  proposals: `Usage: wardenctl proposals <verb> [options]

  list [--state S] [--json]              S: pending, approved, rejected, expired, executed, failed, stale
  show ID [--json] [--policy FILE]       the plan in plain words and as data, with its hash; a security group's
                                         rules and a budget's cap before and after
  approve ID [--comment TEXT] [--yes] [--as NAME] [--policy FILE]
                                         shows the plan hash and asks unless --yes; re-plans now under the
                                         project's approver_role_arn, refuses a stale plan, then runs exactly
                                         the stored plan once
  reject ID --reason TEXT
${DB}
Your OS user name is recorded as the approver (or --as NAME, if the policy's approval.allow_as names it).
list also records proposals whose TTL passed as expired (an audit row and a notice each). Exit 1 when a proposal cannot be decided (expired,
already decided, stale, plan altered since it was proposed, or it failed when run).
`,
  prices: `Usage: wardenctl prices [--type T] [--region R] [--json]

The bundled price table (EC2 on-demand Linux per region and type; EBS and S3 with --json). Monthly =
hourly × 730, rounded up to the cent. Exit 1 when it knows no price for what you asked.
`,
  iam: `Usage: wardenctl iam render|apply|check (--agent A | --project P | --anchors) [--format json|cloudformation] [--json] [--principal ARN] [--policy FILE]

  render  print the roles (JSON documents, or one CloudFormation template)
  apply   create or update them through the IAM API with your own credentials
  check   compare the live roles with the rendering; exit 1 on drift

Renders, from the policy, each agent's role: a trust policy that only the warden's base principal may use
(with sts:TagSession and the agent's ProjectId/AgentId session tags required), exactly the actions its tier's
tools need — existing resources only where aws:ResourceTag/ProjectId equals the caller's ProjectId tag,
creates only with aws:RequestTag/ProjectId and allowed aws:TagKeys, site buckets by the project's name prefix —
and explicit denies (security-group / NACL / IAM writes, bucket deletion and policies, other projects'
instances, re-tagging ownership). --project adds the approver role and prints the project's roles.
--anchors renders the role the worker writes audit anchors under (policy anchors): add and read anchors in
their bucket and prefix, never delete one, shorten a retention or change the bucket's Object Lock.
  --principal ARN  what the warden's base credentials are (default: the role's account root)
  --json           the same as --format json
`,
  agents: `Usage: wardenctl agents token issue AGENT [--expires 30d] [--as NAME] [--policy FILE] [--json] [--db FILE]
       wardenctl agents token list [--agent A] [--json] [--db FILE]
       wardenctl agents token revoke ID [--as NAME] [--policy FILE] [--db FILE]

A token lets one agent of the policy call an aws-warden HTTP server (Authorization: Bearer …); the agent is the
token's, never an argument. The secret is printed once and only its SHA-256 is kept; expiry (--expires 30d, 12h,
90m; none by default) and revocation hold from the next request. Issuing and revoking are in the audit chain.
  --policy FILE  the policy (env WARDEN_POLICY, default ./policy.yaml): AGENT must be one of its agents
${DB}`,
  trust: `Usage: wardenctl trust [--agent A] [--json] [--policy FILE] [--db FILE]

Tiers are ordered as the policy lists them. An agent earns the next one with trust.promote.min_successes
successful changes, at most max_rollbacks rollbacks and max_denials denials within window_days (counted since its
last tier change): that creates a proposal for a human, or promotes at once with automatic: true. Incidents in
trust.demote_on (prod_rollback, health_failure, boundary_escape; all three by default) drop it one tier at once. Every change is in the audit chain.
${DB}`,
  schedule: `Usage: wardenctl schedule list [--state S] [--project P] [--json] [--db FILE]
       wardenctl schedule cancel JOB [--as NAME --policy FILE] [--db FILE]

A change requested outside its environment's deploy window waits as a job; \`aws-warden worker\` runs it at the
window's opening with the full guard checked again. The worker also queues periodic drift and backup checks.
States: queued, running, done, failed, cancelled, interrupted (its worker died mid-run: never run again).
cancel works on queued jobs only and is recorded in the audit chain under your OS user, or --as NAME when the
policy's approval.allow_as names it (anything else is refused, exit 2).
${DB}`,
  backups: `Usage: wardenctl backups [--project P] [--json] [--db FILE]

The newest verify_backups result per site and service: a site passes when versioning is on and a restore of its
live version set into a scratch bucket reproduces every object's SHA-256; a service passes when each of its
volumes has a snapshot newer than backups.max_snapshot_age_hours. Exit 1 when any failed.
${DB}`,
  notifications: `Usage: wardenctl notifications [--limit N] [--json] [--db FILE]

The newest notices (rollbacks, escalations, proposals), oldest first, and how many of the project's
webhooks took each one (POSTed with a 5 s timeout, up to 3 tries; a failure never blocks the action).
${DB}`,
  store: `Usage: wardenctl store copy --from FILE|URL --to FILE|URL [--json]

Copies every table of one store into a new, empty one: an SQLite file into PostgreSQL when a team outgrows one
host, or back. Both stores are held by their write locks while it copies, so stop nothing; the source's chain must
verify first, and the copy's chain is verified after, full, and must end on the same head. A URL's password is never
printed.
  --from FILE|URL  the store to copy (an SQLite file or a postgres:// URL); it must exist
  --to FILE|URL    where to copy it: a new SQLite file, or a PostgreSQL database holding no rows
  --json         the tables copied, rows per table, and the chain's head on both sides
`,
  status: `Usage: wardenctl status [--json] [--db FILE]

Events per agent and kind, the last activity, and whether the chain verifies.
${DB}  --json         as JSON
`,
};

export function printHelp(text: string): 0 {
  process.stdout.write(text);
  return 0;
}
