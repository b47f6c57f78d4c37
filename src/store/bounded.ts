// What the audit keeps of a large value: each top-level field over AUDIT_VALUE_BYTES as JSON becomes its SHA-256
// digest, its size and a short excerpt, so one flooding call cannot grow a row (or the chain) by megabytes.
import { hash } from 'node:crypto';
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
    $digest: `sha256:${hash('sha256', text)}`,
    bytes: Buffer.byteLength(text),
    excerpt: text.slice(0, EXCERPT_CHARS),
  };
}

/**
 * What the audit keeps of a read's answer: the SHA-256, size and an excerpt of its JSON text, byte for byte the text the
 * agent is sent (JSON.stringify, the tool's own field order); the whole answer goes to the agent alone. Rendered as
 * canonicalJson would render the digest object, without building it.
 */
export function digestJson(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  const d = digestOf(text);
  return `{"$digest":"${d.$digest}","bytes":${d.bytes},"excerpt":${JSON.stringify(d.excerpt)}}`;
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
