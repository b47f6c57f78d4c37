// What the demo's script and the bench need of an MCP client: to call a tool. Any SDK client fits, v1 or v2, in either
// protocol era, so the same script drives each kind of client a user has.
export interface ToolClient {
  callTool(params: { name: string; arguments?: Record<string, unknown> }): Promise<unknown>;
}

/** A tool result as every SDK returns it. */
export interface ToolResult {
  content: { type: string; text?: string }[];
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
}

export const callTool = async (client: ToolClient, name: string, args: Record<string, unknown>): Promise<ToolResult> =>
  (await client.callTool({ name, arguments: args })) as ToolResult;
