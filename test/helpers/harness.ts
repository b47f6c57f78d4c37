// Builds an in-process aws-warden for a test: a fresh project and agents, a fresh store, an MCP client, a log of sent AWS commands.
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { randomBytes } from 'node:crypto';
import type { AgentAws, SentCommand } from '../../src/aws/clients.js';
import { parsePolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/schema.js';
import { resolveAgent } from '../../src/core/agent.js';
import { awsFor } from '../../src/registry/agent-aws.js';
import { createServer } from '../../src/server/create-server.js';
import type { AuditLog } from '../../src/store/audit.js';
import type { SqliteDb as Db } from '../../src/store/db.js';
import { rawDb, Store } from '../../src/store/store.js';
import type { ToolSpec } from '../../src/tools/tool.js';
import { toolNames } from '../../src/tools/index.js';

export const ACCOUNT = '123456789012';

/** A name no other test uses: projects, agents, buckets. */
export const fresh = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

export interface World {
  project: string;
  other: string;
  agent: string;
  observer: string;
  policy: Policy;
  /** The policy's text, for a test that runs the CLI against a file. */
  yaml: string;
}

/** A policy with a fresh project (agent + observer) and a second project to trespass on; `{project}` in projectYaml is its name. */
export function world(
  opts: { budget?: number; operatorTools?: string[]; limits?: string; projectYaml?: string; topYaml?: string } = {},
): World {
  const project = fresh('p');
  const other = fresh('q');
  const agent = fresh('bot');
  const observer = fresh('obs');
  const yaml = `
version: 1
projects:
  ${project}:
    budget_usd_month: ${opts.budget ?? 100}
    escalate_over_usd_month: 20
    critical_tag: { Criticality: critical }
${(opts.projectYaml ?? '').replaceAll('{project}', project)}
  ${other}:
    budget_usd_month: 100
tiers:
  observer: { tools: [get_status, list_resources] }
  operator: { tools: [${[...toolNames, ...(opts.operatorTools ?? [])].join(', ')}]${opts.limits ? `, limits: ${opts.limits}` : ''} }
  nothing: { tools: [] }
agents:
  ${agent}: { project: ${project}, tier: operator, role_arn: "arn:aws:iam::${ACCOUNT}:role/${agent}" }
  ${observer}: { project: ${project}, tier: observer, role_arn: "arn:aws:iam::${ACCOUNT}:role/${observer}" }
  ${other}-bot: { project: ${other}, tier: operator, role_arn: "arn:aws:iam::${ACCOUNT}:role/${other}-bot" }
${(opts.topYaml ?? '').replaceAll('{agent}', agent)}
${opts.topYaml?.includes('rate_limits:') ? '' : 'rate_limits: { calls_per_minute: 100000, mutating_calls_per_hour: 100000, concurrent_calls: 1000, pending_proposals: 10000 }   # suites make many calls; flood tests set their own'}
${opts.topYaml?.includes('trust:') ? '' : 'trust: { demote_on: [] }   # suites that probe the boundary on purpose keep their tier'}
${opts.topYaml?.includes('long_call_seconds:') ? '' : "long_call_seconds: 600   # a loaded machine must not turn a suite's answer into a job; test/long-call.test.ts sets its own"}`;
  return { project, other, agent, observer, yaml, policy: parsePolicy(yaml, 'policy.yaml', [...toolNames, ...(opts.operatorTools ?? [])]) };
}

export interface Harness {
  client: Client;
  store: Store;
  audit: AuditLog;
  aws: AgentAws;
  db: Db;
  sent: SentCommand[];
  writes(): SentCommand[];
  close(): Promise<void>;
}

/**
 * The store a suite's server runs on: in memory by default; WARDEN_TEST_STORE=postgres runs the same suites on a fresh
 * database of the run's PostgreSQL cluster (npx vitest run with it set checks every flow on that store too).
 */
export async function suiteStore(): Promise<Store> {
  if (process.env.WARDEN_TEST_STORE !== 'postgres') return Store.open(':memory:');
  const { freshPgDatabase } = await import('./pg.js');
  return Store.open(await freshPgDatabase('suite'));
}

export async function connect(
  policy: Policy,
  agentId: string,
  opts: {
    store?: Store;
    tools?: readonly ToolSpec[];
    onElicit?: (message: string) => { action: 'accept' | 'decline' | 'cancel'; content?: Record<string, unknown> };
  } = {},
): Promise<Harness> {
  const agent = resolveAgent(policy, agentId);
  const store = opts.store ?? (await suiteStore());
  const { audit } = store;
  const sent: SentCommand[] = [];
  const aws = awsFor(agent, store, (c) => sent.push(c));
  const server = createServer({ agent, store, aws, tools: opts.tools });
  const client = new Client({ name: 'test', version: '0' }, { capabilities: { elicitation: {} } });
  const onElicit = opts.onElicit;
  if (onElicit) client.setRequestHandler(ElicitRequestSchema, async (req) => onElicit(req.params.message));
  const [a, b] = InMemoryTransport.createLinkedPair();
  await Promise.all([client.connect(a), server.connect(b)]);
  // Like a real client: having listed the tools, it checks every structuredContent against its outputSchema.
  await client.listTools();
  return {
    client,
    store,
    audit,
    aws,
    // The SQLite connection, for suites that inspect or break the file; on PostgreSQL (WARDEN_TEST_STORE) there is none.
    get db() {
      return rawDb(store);
    },
    sent,
    writes: () => sent.filter((c) => c.mutating),
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

/** The account admin (the base credentials), for arranging the world behind aws-warden's back. */
let adminEc2: EC2Client | undefined;
let adminS3: S3Client | undefined;
/** The test's own view of AWS: straight to the emulator, never through a test's fault proxy. */
export const admin = {
  ec2: () => (adminEc2 ??= new EC2Client({ endpoint: process.env.AWS_ENDPOINT_URL })),
  s3: () => (adminS3 ??= new S3Client({ forcePathStyle: true, endpoint: process.env.AWS_ENDPOINT_URL })),
};

export type ToolAnswer = {
  isError?: boolean;
  text: string;
  structured: Record<string, unknown> | undefined;
};

/** Any SDK client, v1 or v2, in either protocol era. */
export interface AnyClient {
  callTool(params: { name: string; arguments?: Record<string, unknown> }): Promise<unknown>;
}

export async function call(client: AnyClient, name: string, args: Record<string, unknown>): Promise<ToolAnswer> {
  const res = (await client.callTool({ name, arguments: args })) as { content: unknown; isError?: unknown; structuredContent?: unknown };
  const content = res.content as { type: string; text: string }[];
  return {
    isError: res.isError as boolean | undefined,
    text: content.map((c) => c.text).join('\n'),
    structured: res.structuredContent as Record<string, unknown> | undefined,
  };
}

/** Ids of the project's instances that are pending or running now, as the account admin sees them. */
export async function liveInstances(project: string): Promise<string[]> {
  const out = await admin.ec2().send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: 'tag:ProjectId', Values: [project] },
        { Name: 'instance-state-name', Values: ['pending', 'running'] },
      ],
    }),
  );
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId as string);
}

/** How many budget reservations are still held (an unsettled change holds one). */
export const heldReservations = (store: Store): number =>
  rawDb(store).prepare("SELECT count(*) FROM budget_reservations WHERE state = 'reserved'").pluck().get() as number;

/** The newest `approved` audit row of `tool`, or of a human (`agent: 'human:…'`): what a crash test settles. */
export function approvalOf(store: Store, by: { tool: string } | { agent: string }): string {
  const [column, value] = 'tool' in by ? ['tool', by.tool] : ['agent', by.agent];
  return rawDb(store)
    .prepare(`SELECT id FROM audit_events WHERE kind = 'approved' AND ${column} = ? ORDER BY seq DESC`)
    .pluck()
    .get(value) as string;
}
