// Reads policy.yaml, validates it, and turns every problem into "file:line:col field.path: message".
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { issueMessage } from '../util/zod-issue.js';
import { PolicyError } from './errors.js';
import { policySchema, type Policy } from './schema.js';

export { PolicyError };

export function loadPolicyFile(file: string, knownTools: readonly string[]): Policy {
  return readPolicyFile(file, knownTools).policy;
}

/** The policy in `file` and the SHA-256 of its text (what an audit row names as the policy in force). */
export function readPolicyFile(file: string, knownTools: readonly string[]): { policy: Policy; sha256: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PolicyError([`${file}: cannot read policy: ${(e as Error).message}`]);
  }
  const policy = parsePolicy(text, file, knownTools);
  // Relative site roots mean "next to the policy file", whatever directory the server was started from.
  for (const p of Object.values(policy.projects)) p.sites.roots = p.sites.roots.map((r) => resolve(dirname(resolve(file)), r));
  return { policy, sha256: createHash('sha256').update(text).digest('hex') };
}

export function parsePolicy(text: string, file: string, knownTools: readonly string[]): Policy {
  const label = basename(file);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      doc.errors.map((e) => {
        const at = e.linePos?.[0];
        return `${label}:${at ? `${at.line}:${at.col}` : '1:1'} ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const result = policySchema(knownTools).safeParse(doc.toJS());
  if (result.success) return ownMaps(result.data);
  throw new PolicyError(result.error.issues.map((issue) => describeIssue(issue, doc, lines, label)));
}

/**
 * Names are data, not property paths: every map of the policy (projects, agents, tiers, services, windows, …) has no
 * prototype, so a name such as "constructor" or "toString" finds only what the policy itself declares.
 */
function ownMaps<T>(value: T): T {
  if (Array.isArray(value)) return value.map(ownMaps) as T;
  if (value === null || typeof value !== 'object') return value;
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(value)) out[k] = ownMaps(v);
  return out as T;
}

function describeIssue(issue: z.core.$ZodIssue, doc: Document, lines: LineCounter, label: string): string {
  let path = issue.path.map(String);
  // An unknown key is reported on its parent; point at the key itself.
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path = [...path, issue.keys[0]];
  const { line, col } = locate(doc, path, lines, issue.code === 'unrecognized_keys' || issue.code === 'invalid_key');
  const field = path.length > 0 ? path.join('.') : '(top level)';
  return `${label}:${line}:${col} ${field}: ${issueMessage(issue)}`;
}

/** The position of the deepest node of `path` that exists in the document (a missing key points at its parent). */
function locate(doc: Document, path: string[], lines: LineCounter, atKey = false): { line: number; col: number } {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const [i, key] of path.entries()) {
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown })?.value ?? p.key) === key);
      if (!pair) break;
      const keyNode = pair.key as Node | null;
      const valueNode = pair.value as Node | null;
      offset = (last && atKey ? keyNode?.range?.[0] : valueNode?.range?.[0]) ?? keyNode?.range?.[0] ?? offset;
      node = valueNode;
    } else if (isSeq(node)) {
      const item = node.items[Number(key)] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return lines.linePos(offset);
}
