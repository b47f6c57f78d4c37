// The one tag validator for every tool that takes tags from an agent: AWS's character set and limits, and the server's
// reserved keys compared the way a look-alike cannot slip past (NFKC, no zero-width or bidi marks, case folded).
import { reservedTagKeyProblem } from './reserved-tags.js';

/** AWS allows 50 tags on a resource, the server's own included. */
export const MAX_TAGS = 50;
export const MAX_KEY = 128;
export const MAX_VALUE = 256;

/** Marks that render as nothing (or reorder text) and so make one key look like another. */
// (Combining marks are alternatives, not class members, so no character class holds a combining character.)
const INVISIBLE = /[\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]|\u034f|\u17b4|\u17b5/gu;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;
/** Keys: ASCII letters, digits, spaces and + - = . _ : / @ — letters of other scripts can imitate the reserved keys. */
const KEY_CHARS = /^[A-Za-z0-9 +\-=._:/@]+$/;
/** Values: what AWS allows, any script: letters, digits, spaces and + - = . _ : / @. */
const VALUE_CHARS = /^[\p{L}\p{M}\p{N} +\-=._:/@]*$/u;

/** A key as it is compared with the reserved ones: compatibility-normalised, invisible marks gone, trimmed, case folded. */
export const comparableKey = (key: string): string => key.normalize('NFKC').replace(INVISIBLE, '').trim().toLowerCase();

/** Why an agent may not use `key`, or null. */
export function tagKeyProblem(key: string): string | null {
  const length = [...key].length;
  if (length < 1 || length > MAX_KEY) return `tag keys are 1-${MAX_KEY} characters, got ${length}`;
  const reserved = reservedTagKeyProblem(comparableKey(key));
  if (reserved)
    return `${reserved.replace(/^tag key "[^"]*"/, `tag key ${JSON.stringify(key)}`)} (compared after Unicode normalisation, case folding and removing invisible marks)`;
  if (CONTROL.test(key) || key.replace(INVISIBLE, '') !== key)
    return `tag key ${JSON.stringify(key)} holds control or invisible characters`;
  if (!KEY_CHARS.test(key)) return `tag key ${JSON.stringify(key)}: tag keys hold only ASCII letters, digits, spaces and + - = . _ : / @`;
  if (key !== key.trim()) return `tag key ${JSON.stringify(key)} starts or ends with a space`;
  return null;
}

/** Why an agent may not set `value`, or null. */
export function tagValueProblem(value: string): string | null {
  const length = [...value].length;
  if (length > MAX_VALUE) return `tag values are at most ${MAX_VALUE} characters, got ${length}`;
  if (CONTROL.test(value) || value.replace(INVISIBLE, '') !== value) return 'tag values may not hold control or invisible characters';
  if (!VALUE_CHARS.test(value)) return 'tag values hold letters, digits, spaces and + - = . _ : / @';
  return null;
}

/** Problems of a whole set an agent gives, by key (for a zod issue path), and whether the total fits beside the server's. */
export function tagSetProblems(tags: Record<string, string>, serverKeys: number): { path: string[]; message: string }[] {
  const out: { path: string[]; message: string }[] = [];
  const keys = Object.keys(tags);
  if (keys.length + serverKeys > MAX_TAGS)
    out.push({ path: [], message: `at most ${MAX_TAGS} tags on a resource, ${serverKeys} of them aws-warden's own: ${keys.length} given` });
  const seen = new Map<string, string>();
  for (const k of keys) {
    const problem = tagKeyProblem(k) ?? tagValueProblem(tags[k]);
    if (problem) out.push({ path: [k], message: problem });
    const same = seen.get(comparableKey(k));
    if (same !== undefined)
      out.push({ path: [k], message: `tag key ${JSON.stringify(k)} is the same key as ${JSON.stringify(same)} once normalised` });
    seen.set(comparableKey(k), k);
  }
  return out;
}
