// Budget months are UTC calendar months: a cap, a "this_month" increase and month-to-date all use them.
export function monthKey(t: Date): string {
  return t.toISOString().slice(0, 7);
}

export function monthStart(t: Date): Date {
  return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), 1));
}

export function nextMonthStart(t: Date): Date {
  return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 1));
}

const HOUR = 3_600_000;

/** Hours of [from, to) that fall inside the month containing `now`. */
export function hoursInMonth(from: Date, to: Date, now: Date): number {
  const start = Math.max(from.getTime(), monthStart(now).getTime());
  const end = Math.min(to.getTime(), nextMonthStart(now).getTime());
  return Math.max(0, end - start) / HOUR;
}
