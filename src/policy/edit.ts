// Edits a human's policy.yaml in place, keeping its comments and layout: only what an approval adds is changed.
import { isMap, isSeq, parseDocument } from 'yaml';
import type { GrantStatement } from './grants.js';

/**
 * The policy text with `statements` added to agents.<agent>.extra_statements; a statement whose Sid is already there
 * is not added twice, so applying one grant again returns the text unchanged.
 */
export function addGrants(text: string, agent: string, statements: readonly GrantStatement[]): string {
  const doc = parseDocument(text);
  const entry = doc.getIn(['agents', agent]);
  if (!isMap(entry)) throw new Error(`agents.${agent} is not in the policy`);
  if (!entry.has('extra_statements')) entry.set('extra_statements', doc.createNode([]));
  const list: unknown = entry.get('extra_statements', true);
  if (!isSeq(list)) throw new Error(`agents.${agent}.extra_statements is not a list`);
  const have = new Set(list.items.map((i) => (isMap(i) ? String(i.get('Sid')) : '')));
  const added = statements.filter((s) => !have.has(s.Sid));
  if (added.length === 0) return text;
  for (const s of added) list.add(doc.createNode(s));
  return doc.toString();
}
