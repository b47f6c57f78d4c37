// SDK clients of one agent: its assumed-role credentials, the write gate, and a record of every command sent.
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { RDSClient } from '@aws-sdk/client-rds';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { FinalizeRequestMiddleware, InitializeMiddleware, MiddlewareStack } from '@aws-sdk/types';
import { s3PathStyle } from './endpoint.js';
import { ownerOf } from './owner.js';
import { clientBounds, DEFAULT_TIMEOUTS, type AwsTimeouts } from './timeouts.js';
import { isCreate, resourcesOfCommand, type Permit } from './permit.js';
import type { AgentSession } from './session.js';
import { checkWrite, currentScope, isReadCommand, OwnershipLost, WriteRefused, type ApprovalCheck } from './write-gate.js';

export interface SentCommand {
  service: string;
  command: string;
  mutating: boolean;
}

/** Called for every command that actually leaves for AWS (after the gate let it through). */
export type SendObserver = (sent: SentCommand) => void;

/* eslint-disable @typescript-eslint/no-explicit-any -- the middleware sits on clients of every service */
interface MiddlewareClient {
  middlewareStack: MiddlewareStack<any, any>;
  send(command: any, options?: any): Promise<any>;
}

export class AgentAws {
  readonly ec2: EC2Client;
  readonly s3: S3Client;
  readonly tagging: ResourceGroupsTaggingAPIClient;
  readonly ssm: SSMClient;
  readonly cloudwatch: CloudWatchClient;
  readonly cloudtrail: CloudTrailClient;
  readonly rds: RDSClient;

  constructor(
    readonly session: AgentSession,
    private readonly approvals: ApprovalCheck,
    private readonly observe?: SendObserver,
    timeouts: AwsTimeouts = DEFAULT_TIMEOUTS,
  ) {
    const TIMEOUTS = clientBounds(timeouts);
    const credentials = session.provider;
    this.ec2 = this.guarded('ec2', new EC2Client({ credentials, ...TIMEOUTS }));
    // S3's endpoint parameters take a provider for forcePathStyle (EndpointParameters: Provider<boolean>); its input type says boolean.
    this.s3 = this.guarded('s3', new S3Client({ credentials, forcePathStyle: s3PathStyle as unknown as boolean, ...TIMEOUTS }));
    this.tagging = this.guarded('tagging', new ResourceGroupsTaggingAPIClient({ credentials, ...TIMEOUTS }));
    this.ssm = this.guarded('ssm', new SSMClient({ credentials, ...TIMEOUTS }));
    this.cloudwatch = this.guarded('cloudwatch', new CloudWatchClient({ credentials, ...TIMEOUTS }));
    this.cloudtrail = this.guarded('cloudtrail', new CloudTrailClient({ credentials, ...TIMEOUTS, maxAttempts: 1 }));
    this.rds = this.guarded('rds', new RDSClient({ credentials, ...TIMEOUTS }));
  }

  /**
   * After a crash: the instances the running approval launched before its process died (tagged by aws-warden's own
   * RunInstances with WardenEvent = this approval and the project's ProjectId, tags no agent can set) become this
   * execution's own, so its undo may terminate exactly them, as the first execution could have. Returns their ids.
   */
  async adoptLaunches(): Promise<string[]> {
    const permit = currentScope()?.permit;
    if (!permit) throw new WriteRefused('adopting launches runs only inside an approved plan');
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: 'tag:WardenEvent', Values: [permit.approvalId] },
            { Name: 'tag:ProjectId', Values: [permit.project] },
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
          ],
          NextToken: token,
        }),
      );
      for (const r of out.Reservations ?? [])
        for (const i of r.Instances ?? []) {
          const tags = new Map((i.Tags ?? []).map((t) => [t.Key, t.Value]));
          // The filter ran on the AWS side; check the tags again rather than trust it.
          if (i.InstanceId && tags.get('WardenEvent') === permit.approvalId && tags.get('ProjectId') === permit.project)
            ids.push(i.InstanceId);
        }
      token = out.NextToken;
    } while (token);
    for (const id of ids) permit.created.add(id);
    return ids;
  }

  private guarded<C extends MiddlewareClient>(service: string, client: C): C {
    const approvals = this.approvals;
    const observe = this.observe;
    const session = this.session;
    const gate: InitializeMiddleware<any, any> = (next, context) => async (args) => {
      const command = (context.commandName ?? 'UnknownCommand').replace(/Command$/, '');
      const input = (args.input ?? {}) as Record<string, unknown>;
      const { acts, reads } = resourcesOfCommand(service, input);
      const permit = checkWrite(service, command, acts, approvals);
      if (permit)
        await this.ensureOwned(permit, service, `${service}:${command}`, isCreate(`${service}:${command}`) ? reads : [...acts, ...reads]);
      try {
        const out = await next(args);
        const id = (out.output as { $metadata?: { requestId?: string } } | undefined)?.$metadata?.requestId;
        if (id) currentScope()?.requestIds.push(id);
        if (permit) for (const made of createdBy(command, input, out.output)) permit.created.add(made);
        return out;
      } catch (e) {
        if (/Expired/.test((e as Error).name)) session.invalidate();
        if (e && typeof e === 'object') Object.assign(e, { wardenCommand: `${service}:${command}` });
        throw e;
      }
    };
    client.middlewareStack.add(gate, { step: 'initialize', name: 'wardenWriteGate', priority: 'high' });
    // Every request of a call stops when the call's deadline passes: the scope's signal rides on each send.
    const send = client.send.bind(client);
    client.send = (command: unknown, options?: Record<string, unknown>) =>
      send(command, { abortSignal: currentScope()?.signal, ...(options ?? {}) });
    if (observe) {
      const recordSend: FinalizeRequestMiddleware<any, any> = (next, context) => async (args) => {
        const command = (context.commandName ?? 'UnknownCommand').replace(/Command$/, '');
        observe({ service, command, mutating: !isReadCommand(command) });
        return next(args);
      };
      client.middlewareStack.add(recordSend, { step: 'finalizeRequest', name: 'wardenSendObserver', priority: 'low' });
    }
    return client;
  }

  /**
   * Ownership is re-read where the write happens: each existing resource a write touches must carry the project's
   * ProjectId now, not only when the plan was made. Read once per resource per execution.
   */
  private async ensureOwned(permit: Permit, service: string, command: string, ids: readonly string[]): Promise<void> {
    const unknown = ids.filter((id) => !permit.created.has(id) && !permit.owned.has(id));
    if (unknown.length === 0) return;
    const owners = await ownerOf(this, service === 's3' || service === 'rds' ? service : 'ec2', unknown);
    for (const id of unknown) {
      const owner = owners.get(id);
      if (owner !== permit.project)
        throw new OwnershipLost(
          `${command} refused by the AWS layer: ${id} is not owned by ${permit.project} now (${owner === undefined ? 'no ProjectId tag' : owner === null ? 'its tags cannot be read' : `ProjectId is "${owner}"`}); it was not touched`,
          id,
        );
      permit.owned.add(id);
    }
  }
}

/** Ids a successful create made, so the same execution's later steps and rollback may act on them. */
function createdBy(command: string, input: Record<string, unknown>, output: unknown): string[] {
  const o = (output ?? {}) as { Instances?: { InstanceId?: string }[]; SnapshotId?: string; VolumeId?: string };
  if (command === 'CreateBucket' && typeof input.Bucket === 'string') return [input.Bucket];
  if (command === 'CreateDBSnapshot' && typeof input.DBSnapshotIdentifier === 'string') return [input.DBSnapshotIdentifier];
  if (command === 'RestoreDBInstanceFromDBSnapshot' && typeof input.DBInstanceIdentifier === 'string') return [input.DBInstanceIdentifier];
  if (command === 'RunInstances') return (o.Instances ?? []).map((i) => i.InstanceId ?? '').filter(Boolean);
  if (command === 'CreateSnapshot' && o.SnapshotId) return [o.SnapshotId];
  if (command === 'CreateVolume' && o.VolumeId) return [o.VolumeId];
  return [];
}
