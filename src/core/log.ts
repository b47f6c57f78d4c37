// Diagnostics go to stderr only: on stdio, stdout is the MCP protocol.
export const log = {
  info: (msg: string) => console.error(`[aws-warden] ${msg}`),
  warn: (msg: string) => console.warn(`[aws-warden] warn: ${msg}`),
  error: (msg: string) => console.error(`[aws-warden] error: ${msg}`),
};
