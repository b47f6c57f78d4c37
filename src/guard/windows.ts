// Deploy windows, pure like the rest of the guard: whether an environment's window is open at an instant, when it
// next opens (in each range's own time zone, daylight saving included), and the rule that queues a change until then.
import type { WindowRange } from '../policy/schema.js';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
type Day = (typeof DAYS)[number];

const formatters = new Map<string, Intl.DateTimeFormat>();
function local(at: Date, timeZone: string): { day: Day; minutes: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(at).map((p) => [p.type, p.value]));
  return { day: parts.weekday.toLowerCase().slice(0, 3) as Day, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const dayBefore = (d: Day) => DAYS[(DAYS.indexOf(d) + 6) % 7];

function openIn(r: WindowRange, at: Date): boolean {
  const { day, minutes } = local(at, r.time_zone);
  const start = minutesOf(r.start);
  const end = minutesOf(r.end);
  const days = r.days as readonly string[];
  if (start < end) return days.includes(day) && minutes >= start && minutes < end;
  // Past midnight: the opening belongs to the day it starts on.
  return (days.includes(day) && minutes >= start) || (days.includes(dayBefore(day)) && minutes < end);
}

export function isOpen(ranges: readonly WindowRange[], at: Date): boolean {
  return ranges.some((r) => openIn(r, at));
}

/** The first minute at or after `from` when a range is open; null when none opens within 8 days. */
export function nextOpening(ranges: readonly WindowRange[], from: Date): Date | null {
  let t = Math.ceil(from.getTime() / 60_000) * 60_000;
  for (let i = 0; i <= 8 * 24 * 60; i++, t += 60_000) if (isOpen(ranges, new Date(t))) return new Date(t);
  return null;
}

export function describeRanges(ranges: readonly WindowRange[]): string {
  return ranges.map((r) => `${r.days.join(',')} ${r.start}-${r.end} ${r.time_zone}`).join('; ');
}

export type WindowVerdict =
  | { outcome: 'allow' }
  | { outcome: 'queue'; rule: 'deploy_window'; reason: string; runAt: Date }
  | { outcome: 'deny'; rule: 'deploy_window'; reason: string };

/** A change to `environment` at `now`: allowed inside its window (or with none), else queued for the next opening. */
export function windowRule(windows: Record<string, readonly WindowRange[]>, environment: string | null, now: Date): WindowVerdict {
  const ranges = environment ? windows[environment] : undefined;
  if (!environment || !ranges || isOpen(ranges, now)) return { outcome: 'allow' };
  const at = nextOpening(ranges, now);
  const described = describeRanges(ranges);
  if (!at) return { outcome: 'deny', rule: 'deploy_window', reason: `${environment}'s deploy window (${described}) does not open within 8 days` };
  return { outcome: 'queue', rule: 'deploy_window', runAt: at, reason: `${environment} changes run in its deploy window (${described}); next opening ${at.toISOString()}` };
}
