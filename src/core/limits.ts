// The token buckets of an agent's flood limits, as the registry takes from them and get_status reports them.
import type { RateLimitPolicy } from '../policy/schema.js';
import type { Bucket } from '../store/rate-limits.js';

/** The token buckets a call takes from: every call one per minute; a change that will run, one per hour too. */
export function bucketsFor(limits: RateLimitPolicy, mutatingCall: boolean): Bucket[] {
  const calls = { kind: 'calls_per_minute', capacity: limits.calls_per_minute, periodMs: 60_000 };
  if (!mutatingCall) return [calls];
  return [calls, { kind: 'mutating_calls_per_hour', capacity: limits.mutating_calls_per_hour, periodMs: 3_600_000 }];
}
