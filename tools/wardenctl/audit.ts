// wardenctl audit tail | verify | export.
import { Store } from '../../src/store/store.js';
import { auditTable } from '../../src/cli/audit-table.js';
import type { AnchorCheck } from '../../src/anchors/anchors.js';
import { ExitError, parse, parseLimit, UsageError } from '../../src/cli/run-main.js';
import type { Policy } from '../../src/policy/schema.js';
import type { AuditRow } from '../../src/store/audit.js';
import { HELP, printHelp } from './help.js';
import { readStore } from './store.js';
import { loadPolicy } from './policy.js';

function anchorsOf(policy: Policy): NonNullable<Policy['anchors']> {
  if (!policy.anchors) throw new ExitError(2, '--anchors: the policy names no anchors (anchors: { bucket, role_arn })');
  return policy.anchors;
}

const JSON_FIELDS = ['request', 'decision', 'result', 'request_ids'] as const;

/** A row with its JSON columns parsed, for --json and export. */
export function rowObject(row: AuditRow): Record<string, unknown> {
  const out: Record<string, unknown> = { ...row };
  for (const f of JSON_FIELDS) out[f] = row[f] === null ? null : JSON.parse(row[f] as string);
  return out;
}

export async function auditCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === 'tail') return tail(rest);
  if (verb === 'verify') return verify(rest);
  if (verb === 'export') return exportEvents(rest);
  if (verb === '--help' || verb === '-h') return printHelp(HELP.audit);
  throw new UsageError(`wardenctl audit: expected tail, verify or export${verb ? `, got "${verb}"` : ''}\n\n${HELP.audit}`);
}

function tail(argv: string[]): number {
  const { values } = parse(
    argv,
    {
      agent: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      db: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP.tail,
  );
  if (values.help) return printHelp(HELP.tail);
  const limit = parseLimit(values.limit, 20);
  return readStore(values.db, ({ audit }) => {
    const rows = audit.tail({ agent: values.agent, limit });
    process.stdout.write(values.json ? `${JSON.stringify(rows.map(rowObject), null, 2)}\n` : `${auditTable(rows)}\n`);
    return 0;
  });
}

function verify(argv: string[]): number | Promise<number> {
  const { values } = parse(
    argv,
    {
      head: { type: 'string' },
      full: { type: 'boolean' },
      anchors: { type: 'boolean' },
      policy: { type: 'string' },
      json: { type: 'boolean' },
      db: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP.verify,
  );
  if (values.help) return printHelp(HELP.verify);
  if (values.head !== undefined && !/^[0-9a-f]{64}$/.test(values.head))
    throw new UsageError(`--head: expected a 64-character hex SHA-256, got "${values.head}"`);
  // The anchors' bucket and role come from the policy: read before the store is opened, so a bad one changes nothing.
  const anchorCfg = values.anchors ? anchorsOf(loadPolicy(values.policy)) : undefined;
  return readStore(values.db, async ({ store, audit, file }) => {
    const started = performance.now();
    let result: Record<string, unknown> = { ...audit.verify({ full: values.full }) };
    // The chain vouches for rows; SQLite's integrity_check for the file around them (indexes, free pages, other tables).
    const damage = store.integrity('full');
    if (damage.length)
      result = {
        ...result,
        ok: false,
        integrity: damage,
        reason: `${result.ok ? '' : `${result.reason}; `}the file is damaged: ${damage.slice(0, 3).join('; ')}`,
      };
    if (result.ok && values.head) {
      const known = audit.seqOfHash(values.head);
      if (!known)
        result = {
          ...result,
          ok: false,
          reason: `recorded head ${values.head} is no longer in the chain (rows deleted from the end, or the log replaced)`,
        };
    }
    if (anchorCfg) {
      // Loaded only here: the other audit commands never load the AWS SDK.
      const { AnchorBucket, anchorClient, checkAnchors } = await import('../../src/anchors/anchors.js');
      let check: AnchorCheck;
      try {
        check = checkAnchors(audit, await new AnchorBucket(anchorCfg, anchorClient(anchorCfg)).all());
      } catch (e) {
        throw new ExitError(2, `cannot read the anchors in s3://${anchorCfg.bucket}/${anchorCfg.prefix}: ${(e as Error).message}`);
      }
      const none = check.ok && check.anchors === 0;
      result = {
        ...result,
        anchors: check,
        ...(check.ok && !none ? {} : { ok: false }),
        ...(check.ok
          ? none
            ? {
                reason: `no anchor in s3://${anchorCfg.bucket}/${anchorCfg.prefix}: nothing outside the store vouches for the chain yet (does the worker run?)`,
              }
            : {}
          : { seq: check.seq, reason: check.reason }),
      };
    }
    const ms = Math.round(performance.now() - started);
    if (values.json) process.stdout.write(`${JSON.stringify({ db: Store.shown(file), ms, ...result })}\n`);
    else if (result.ok) {
      const how =
        result.checkpoint === undefined
          ? 'every row re-hashed'
          : `rows 1–${result.checkpoint} checked by link and checkpoint, the rest re-hashed; --full re-hashes every row`;
      process.stdout.write(`ok: ${result.count} events verified in ${ms} ms (${how}); head ${result.head}\n`);
      if (anchorCfg && result.anchors) {
        const a = result.anchors as { anchors: number; newest: number };
        process.stdout.write(
          `anchors: all ${a.anchors} in s3://${anchorCfg.bucket}/${anchorCfg.prefix} match the chain (newest at #${a.newest})\n`,
        );
      }
    } else
      process.stdout.write(
        `BROKEN: ${result.seq !== undefined ? `first bad row #${result.seq}${result.id ? ` (${result.id})` : ''}: ` : ''}${result.reason}; ${result.count} rows before it verified\n`,
      );
    return result.ok ? 0 : 1;
  });
}

function exportEvents(argv: string[]): number {
  const { values } = parse(
    argv,
    {
      since: { type: 'string' },
      db: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP.export,
  );
  if (values.help) return printHelp(HELP.export);
  let since: string | undefined;
  if (values.since !== undefined) {
    const t = new Date(values.since);
    if (Number.isNaN(t.getTime()))
      throw new UsageError(`--since: expected an ISO 8601 time such as 2026-11-01T00:00:00Z, got "${values.since}"`);
    since = t.toISOString();
  }
  return readStore(values.db, ({ audit }) => {
    let chunk = '';
    for (const row of audit.since(since)) {
      chunk += `${JSON.stringify(rowObject(row))}\n`;
      if (chunk.length > 1 << 16) {
        process.stdout.write(chunk);
        chunk = '';
      }
    }
    process.stdout.write(chunk);
    return 0;
  });
}
