// W3C Trace Context: the `traceparent` an agent framework puts in a request's _meta, so its trace links to the warden's
// decision. Only a well-formed value is kept (the spec says to ignore any other); nothing else of _meta reaches the audit.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function traceparentOf(meta: unknown): string | undefined {
  const value = (meta as { traceparent?: unknown } | undefined)?.traceparent;
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value);
  if (!m) return undefined;
  const [, version, traceId, parentId] = m;
  // Version ff is forbidden, and an all-zero trace or parent id is invalid.
  if (version === 'ff' || /^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  return value;
}
