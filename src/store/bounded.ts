// What the audit keeps of a large value: each top-level field over AUDIT_VALUE_BYTES as JSON becomes its SHA-256
// digest, its size and a short excerpt, so one flooding call cannot grow a row (or the chain) by megabytes.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../util/canonical.js';

/** As large as the largest argument the policy can admit (rate_limits.max_argument_kb ≤ 64): what is admitted is kept whole. */
export const AUDIT_VALUE_BYTES = 64 * 1024;
const EXCERPT_CHARS = 512;

export interface Digested {
  $digest: string;
  bytes: number;
  excerpt: string;
}

function digestOf(text: string): Digested {
  return {
    $digest: `sha256:${createHash('sha256').update(text).digest('hex')}`,
    bytes: Buffer.byteLength(text),
    excerpt: text.slice(0, EXCERPT_CHARS),
  };
}

/**
 * The JSON text the audit stores for `value`: canonical JSON, with every oversized top-level field (or the value itself,
 * if it is not an object) replaced by its digest. Serialized once when the value is small, which is nearly always.
 */
export function boundedJson(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const whole = canonicalJson(value);
  // A UTF-16 unit is at most 3 bytes of UTF-8: short text needs no byte count.
  if (whole.length * 3 <= AUDIT_VALUE_BYTES || Buffer.byteLength(whole) <= AUDIT_VALUE_BYTES) return whole;
  if (typeof value !== 'object' || Array.isArray(value)) return canonicalJson(digestOf(whole));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const text = canonicalJson(v);
    out[k] = Buffer.byteLength(text) > AUDIT_VALUE_BYTES ? digestOf(text) : v;
  }
  return canonicalJson(out);
}
