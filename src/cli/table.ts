// wardenctl's tables, fitted to the terminal: natural widths when they fit, else the widest columns shrink with an
// ellipsis, and when even that leaves a column too narrow to read, one `key: value` block per row instead.
import Table from 'cli-table3';

export type Cell = string | number;

/** The width to fit: the terminal's columns, or $COLUMNS; unbounded for a pipe (scripts read whole cells, or --json). */
export function terminalWidth(): number {
  if (process.stdout.isTTY && process.stdout.columns) return process.stdout.columns;
  const env = Number(process.env.COLUMNS);
  return Number.isInteger(env) && env > 0 ? env : Infinity;
}

/** Narrower than this a column is not worth reading: the vertical layout is used instead. */
const MIN_COLUMN = 8;

const length = (s: string) => Math.max(0, ...s.split('\n').map((l) => [...l].length));

/**
 * Column widths (content only) that fit `available`: the widest column that may shrink goes first, none below
 * MIN_COLUMN, and `keep` columns (ids a person copies) never; null when they cannot fit.
 */
export function fitWidths(natural: number[], available: number, keep: boolean[] = []): number[] | null {
  const widths = [...natural];
  let total = widths.reduce((a, b) => a + b, 0);
  while (total > available) {
    const shrinkable = widths.map((w, i) => (keep[i] ? 0 : w));
    const widest = Math.max(...shrinkable);
    if (widest <= MIN_COLUMN) return null;
    const i = shrinkable.indexOf(widest);
    const second = Math.max(0, ...shrinkable.filter((_, j) => j !== i));
    // Down to the next widest (or less, if that is all it takes), never below MIN_COLUMN; a tie shrinks by one.
    const target = Math.max(MIN_COLUMN, second, widest - (total - available));
    const shrunk = target < widest ? target : widest - 1;
    total -= widest - shrunk;
    widths[i] = shrunk;
  }
  return widths;
}

function vertical(head: string[], rows: Cell[][]): string {
  const key = Math.max(...head.map((h) => [...h].length));
  return rows.map((r) => head.map((h, i) => `${h.padEnd(key)}  ${String(r[i] ?? '')}`).join('\n')).join('\n\n');
}

export function renderTable(head: string[], rows: Cell[][], opts: { width?: number; keep?: string[] } = {}): string {
  const width = opts.width ?? terminalWidth();
  const cells = rows.map((r) => r.map((c) => String(c ?? '')));
  const natural = head.map((h, i) => Math.max(length(h), ...cells.map((r) => length(r[i] ?? ''))));
  // Each column has one space of padding either side and one border to its left; one more closes the row.
  const frame = head.length * 3 + 1;
  const widths = fitWidths(
    natural,
    width - frame,
    head.map((h) => opts.keep?.includes(h) ?? false),
  );
  if (!widths) return vertical(head, rows);
  const table = new Table({
    head,
    colWidths: widths.map((w) => w + 2),
    wordWrap: false,
    truncate: '…',
    style: { head: [], border: [] },
  });
  for (const r of cells) table.push(r.map((c) => c.replace(/\n/g, ' ')));
  return table.toString();
}

/** A table to fill row by row and print fitted: `tableOf(head).push(row)`, then `String(table)`. */
export function tableOf(head: string[], opts: { width?: number; keep?: string[] } = {}) {
  const rows: Cell[][] = [];
  return {
    push: (...more: Cell[][]) => void rows.push(...more),
    toString: () => renderTable(head, rows, opts),
  };
}
