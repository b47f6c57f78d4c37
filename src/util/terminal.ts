// What reaches a human's terminal: strings from agents, clients and AWS may carry escape sequences, carriage returns,
// fake lines or bidi overrides. Every byte wardenctl (and aws-warden's CLI) writes passes through here.

/** C0 controls but tab and newline, DEL, C1 controls (ESC and CSI included), and the bidi and line-separator marks. */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** In JSON, what JSON.stringify leaves raw but a terminal still obeys. */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const hex = (c: string) => (c.codePointAt(0) as number).toString(16).padStart(4, '0');

/** Shows each unsafe character as a visible `\u{…}` escape; tabs and newlines pass. */
export const terminalSafe = (text: string): string => text.replace(UNSAFE, (c) => `\\u{${hex(c)}}`);

/** One line of text from someone else: also its newlines become visible, so it cannot fake a line of its own. */
export const oneLine = (text: string): string => terminalSafe(text).replace(/\r?\n/g, '\\n');

/** JSON output stays exact JSON (the same value when parsed), with no character a terminal would act on. */
export const jsonSafe = (text: string): string => text.replace(JSON_UNSAFE, (c) => `\\u${hex(c)}`);

/**
 * Routes every write to stdout and stderr through the filter: JSON output (`--json`, `audit export`) through jsonSafe,
 * everything else through terminalSafe. One place, so no command can forget it.
 */
export function guardTerminal(json: boolean): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      write(
        typeof chunk === 'string' ? (json && stream === process.stdout ? jsonSafe(chunk) : terminalSafe(chunk)) : chunk,
        ...rest,
      )) as typeof stream.write;
  }
}
