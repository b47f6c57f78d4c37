// The server factory the SDK's serving entries call. Light on purpose (no tool, no AWS SDK): `serve` answers the
// opening before the guard has loaded.
import { Server } from '@modelcontextprotocol/server';
import type { ToolHandlers } from './create-server.js';
import { SERVER_INFO, SERVER_OPTIONS } from './info.js';

/**
 * A server factory for the SDK's serving entries, which build an instance per era (sometimes a probe first, then the
 * pinned one): each instance answers with the same guarded handlers, so a consent round minted by one verifies on the next.
 */
export function eraFactory(
  handlers: () => ToolHandlers | Promise<ToolHandlers>,
  opened?: (server: Server, era: 'legacy' | 'modern') => void,
) {
  return ({ era }: { era: 'legacy' | 'modern' }): Server => {
    const server = new Server(SERVER_INFO, SERVER_OPTIONS);
    opened?.(server, era);
    server.setRequestHandler('tools/list', async (req, ctx) => (await handlers()).list(req, ctx));
    server.setRequestHandler('tools/call', async (req, ctx) => (await handlers()).call(req, ctx));
    return server;
  };
}
