// wardenctl's help texts, one per command.
const DB = `  --db FILE      the audit store (env WARDEN_DB, default ./warden.db)\n`;

export const HELP = {
  main: `Usage: wardenctl <command> [options]

Commands:
  audit tail     the newest audit events
  audit verify   recompute the hash chain; exit 1 if any row was edited, deleted or reordered
  audit export   every event as JSON lines, for your own archive or SIEM
  status         what the store holds: events per agent, chain state

Options:
${DB}  --json         machine-readable output
  -h, --help     help for a command (wardenctl audit tail --help)

Exit codes: 0 ok, 1 a finding (e.g. a broken chain), 2 usage or environment error.
`,
  tail: `Usage: wardenctl audit tail [--agent A] [--limit N] [--json] [--db FILE]

Shows the newest events, oldest first.
  --agent A      only this agent's events
  --limit N      how many (default 20, at most 10000)
${DB}  --json         one JSON array

Example: wardenctl audit tail --agent web-bot --limit 50
`,
  verify: `Usage: wardenctl audit verify [--head HASH] [--json] [--db FILE]

Recomputes every row's SHA-256 link. Exit 0 when the chain holds, 1 naming the first bad row.
  --head HASH    a head hash you recorded earlier (verify prints it): fails if it is no longer in
                 the chain, which catches rows deleted from the end
${DB}  --json         the result as JSON
`,
  export: `Usage: wardenctl audit export [--since TIME] [--db FILE] > events.jsonl

Writes every event (at or after TIME, ISO 8601) as one JSON object per line, with hashes.
${DB}
Example: wardenctl audit export --since 2026-11-01T00:00:00Z > november.jsonl
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
