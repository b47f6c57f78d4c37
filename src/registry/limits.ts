// The flood limits of admission: the size of each argument, calls per minute, mutating calls per hour and calls in
// flight, per agent across all its server processes. A limit reached is a denial that says when to try again.
import { rateLimitsOf, type AgentContext } from '../core/agent.js';
import type { Admission } from '../store/rate-limits.js';

/** The first argument over the size limit, as JSON, named: `argument "reason" is 1048600 bytes; the limit is 65536`. */
export function oversizedArgument(rawArgs: unknown, agent: AgentContext): string | null {
  if (rawArgs === null || typeof rawArgs !== 'object') return null;
  const max = rateLimitsOf(agent).max_argument_kb * 1024;
  let total = 0;
  for (const [key, value] of Object.entries(rawArgs)) {
    const bytes = Buffer.byteLength(JSON.stringify(value) ?? '');
    total += bytes;
    if (bytes > max)
      return `argument "${key.slice(0, 64)}" is ${bytes} bytes as JSON; the limit is ${max} bytes per argument (rate_limits.max_argument_kb)`;
  }
  // Many arguments each under the limit still make one oversized call.
  if (total > 4 * max)
    return `(arguments) are ${total} bytes as JSON together; the limit is ${4 * max} bytes (4 × rate_limits.max_argument_kb)`;
  return null;
}

const seconds = (ms: number) => {
  const s = Math.max(1, Math.ceil(ms / 1000));
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
};

/** The denial for a limit reached: which limit, for whom, and when a retry can pass. */
export function limitMessage(agent: string, a: Extract<Admission, { ok: false }>): string {
  switch (a.limit) {
    case 'calls_per_minute':
      return `rate limit: ${a.capacity} calls/min for ${agent}; retry after ${seconds(a.retryAfterMs ?? 0)}`;
    case 'mutating_calls_per_hour':
      return `rate limit: ${a.capacity} mutating calls/hour for ${agent}; retry after ${seconds(a.retryAfterMs ?? 0)}`;
    default:
      return `concurrency limit: ${a.inFlight ?? a.capacity} calls of ${agent} are already running (limit ${a.capacity}); retry when one of them finishes`;
  }
}
