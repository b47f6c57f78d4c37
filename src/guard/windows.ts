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

const zoned = new Map<string, Intl.DateTimeFormat>();
/** Local wall-clock minus UTC at `t`, in minutes, in `timeZone`. */
function offsetMinutes(t: number, timeZone: string): number {
  let f = zoned.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    zoned.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(t)).map((x) => [x.type, Number(x.value)]));
  return (Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - Math.floor(t / 60_000) * 60_000) / 60_000;
}

/** The instant a local wall-clock time (days since the epoch, minutes into the day) has in `timeZone`. */
function instantOf(localDay: number, minutes: number, timeZone: string): number {
  const wall = localDay * 86_400_000 + minutes * 60_000;
  const first = wall - offsetMinutes(wall, timeZone) * 60_000;
  return wall - offsetMinutes(first, timeZone) * 60_000;
}

const WEEK_FROM_EPOCH_DAY: Day[] = ['thu', 'fri', 'sat', 'sun', 'mon', 'tue', 'wed'];

/**
 * The first minute at or after `from` when a range is open; null when none opens within 8 days. Openings happen
 * only at a range's start, so each range's next starts are computed (a dozen zone lookups, not a minute-by-minute scan).
 */
export function nextOpening(ranges: readonly WindowRange[], from: Date): Date | null {
  const t0 = Math.ceil(from.getTime() / 60_000) * 60_000;
  if (isOpen(ranges, new Date(t0))) return new Date(t0);
  const limit = t0 + 8 * 86_400_000;
  let best: number | null = null;
  for (const r of ranges) {
    const today = Math.floor((t0 + offsetMinutes(t0, r.time_zone) * 60_000) / 86_400_000);
    for (let day = today - 1; day <= today + 8; day++) {
      if (!(r.days as readonly string[]).includes(WEEK_FROM_EPOCH_DAY[((day % 7) + 7) % 7])) continue;
      let t = instantOf(day, minutesOf(r.start), r.time_zone);
      // A start inside a daylight-saving gap does not exist: the window opens at the first minute that does.
      for (let k = 0; k < 120 && !openIn(r, new Date(t)); k++) t += 60_000;
      if (t >= t0 && t <= limit && openIn(r, new Date(t)) && (best === null || t < best)) best = t;
    }
  }
  return best === null ? null : new Date(best);
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
  if (!at)
    return { outcome: 'deny', rule: 'deploy_window', reason: `${environment}'s deploy window (${described}) does not open within 8 days` };
  return {
    outcome: 'queue',
    rule: 'deploy_window',
    runAt: at,
    reason: `${environment} changes run in its deploy window (${described}); next opening ${at.toISOString()}`,
  };
}
