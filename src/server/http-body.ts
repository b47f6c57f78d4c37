// A POST body read once, bounded, and parsed once: the MCP handler is handed the parsed value, so it neither clones
// the request to classify it nor reads and parses the same bytes a second time.
import type { IncomingMessage } from 'node:http';

/** The body as parsed (`undefined` when there is none), or why it is refused. */
export type Body = { parsed: unknown } | { tooLarge: true } | { invalid: true };

/** Reads `req`'s body up to `maxBytes` (a body sent chunked, with no Content-Length, is bounded as it arrives). */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<Body> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return { tooLarge: true };
    chunks.push(chunk);
  }
  if (size === 0) return { parsed: undefined };
  try {
    return { parsed: JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown };
  } catch {
    return { invalid: true };
  }
}
