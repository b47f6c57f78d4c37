// What the server says about itself in the MCP handshake: light, so the handshake needs no tool loaded.
import { packageVersion } from '../core/version.js';

export const SERVER_INFO = { name: 'aws-warden', version: packageVersion() };

export const SERVER_OPTIONS = {
  capabilities: { tools: { listChanged: true } },
  instructions:
    'aws-warden: every call passes a guard (trust tier, tag ownership, budget, escalation) and is audited. Call get_status first; refusals say which rule said no and what to do instead.',
};
