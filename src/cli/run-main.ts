// Shared by aws-warden and wardenctl: known errors print one line and exit 2; anything else is a bug with a stack.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PolicyError } from '../policy/errors.js';
import { IdentityError } from '../core/errors.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Exit status with a message: 1 for a finding, 2 for usage or environment. */
export class ExitError extends Error {
  constructor(
    readonly code: 1 | 2,
    message: string,
  ) {
    super(message);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs that turns its TypeError into a UsageError carrying the help text, and refuses positionals beyond the
 * `positionals` the command takes (`audit tail --db a.db b.db` is a mistake, never a silent read of a.db).
 */
export function parse<O extends Options>(argv: string[], options: O, help: string, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${help}`);
  }
  const extra = parsed.positionals.slice(positionals);
  if (extra.length)
    throw new UsageError(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((x) => `"${x}"`).join(' ')}\n\n${help}`);
  return parsed;
}

export function runMain(main: () => Promise<number | void>): void {
  main().then(
    (code) => {
      if (typeof code === 'number') process.exitCode = code;
    },
    (e: unknown) => {
      if (e instanceof ExitError) {
        console.error(e.message);
        process.exitCode = e.code;
      } else if (e instanceof UsageError || e instanceof PolicyError || e instanceof IdentityError) {
        console.error(e.message);
        process.exitCode = 2;
      } else if (e && typeof e === 'object' && 'code' in e && /^SQLITE_/.test(String(e.code))) {
        console.error(`database error: ${(e as unknown as Error).message}`);
        process.exitCode = 2;
      } else {
        console.error(e);
        process.exitCode = 2;
      }
    },
  );
}

/** A --limit flag: a whole number from 1 to 10000, or `fallback` when absent. */
export function parseLimit(value: string | undefined, fallback: number): number {
  const limit = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    throw new UsageError(`--limit: expected a whole number from 1 to 10000, got "${value}"`);
  return limit;
}
