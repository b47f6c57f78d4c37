// The agent's own AWS identity: STS AssumeRole of its role with ProjectId/AgentId session tags, cached until near expiry.
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { classifyAwsError } from './errors.js';
import { clientBounds, DEFAULT_TIMEOUTS, type AwsTimeouts } from './timeouts.js';

export interface AgentIdentity {
  agentId: string;
  projectId: string;
  roleArn: string;
  sessionSeconds: number;
}

export interface AssumedCredentials extends AwsCredentialIdentity {
  expiration: Date;
  /** The assumed-role ARN from the AssumeRole answer: what the audit records the call ran as. */
  assumedRoleArn: string;
}

/** Refresh this long before expiry so no call starts with credentials about to lapse. */
const REFRESH_MARGIN_MS = 5 * 60_000;

export class AssumeRoleError extends Error {
  override name = 'AssumeRoleError';
  constructor(
    message: string,
    /** STS could not be reached or failed itself: an outage, not a problem with the role. */
    readonly outage = false,
    /** The server's own AWS configuration is incomplete (no region): not the role either. */
    readonly configuration = false,
  ) {
    super(message);
  }
}

/** RoleSessionName allows [\w+=,.@-], 2-64 chars. */
export function sessionName(agentId: string): string {
  return `warden-${agentId}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
}

export class AgentSession {
  private current?: AssumedCredentials;
  private pending?: Promise<AssumedCredentials>;
  private readonly sts: STSClient;

  constructor(
    public identity: AgentIdentity,
    baseCredentials: AwsCredentialIdentityProvider = fromNodeProviderChain(),
    private readonly clock: () => number = Date.now,
    timeouts: AwsTimeouts = { ...DEFAULT_TIMEOUTS, maxAttempts: 2 },
  ) {
    // The base credentials are used for exactly one thing: assuming the agent's role.
    this.sts = new STSClient({ credentials: baseCredentials, ...clientBounds(timeouts) });
  }

  /**
   * A credential provider for SDK clients; concurrent callers share one AssumeRole. Marked `memoized` so the SDK keeps
   * no cache of its own in front of it (its cache would keep signing with a rejected or a previous role's key until 5
   * minutes before that key's expiry): every request asks this session, which refreshes after invalidate() or useRole().
   */
  readonly provider = Object.assign((): Promise<AssumedCredentials> => this.credentials(), { memoized: true });

  async credentials(): Promise<AssumedCredentials> {
    const c = this.current;
    if (c && c.expiration.getTime() - REFRESH_MARGIN_MS > this.clock()) return c;
    this.pending ??= this.assume().finally(() => (this.pending = undefined));
    return this.pending;
  }

  get assumedRoleArn(): string | undefined {
    return this.current?.assumedRoleArn;
  }

  /** Act as another role from the next call on (a tier change mapped to a different role); a no-op for the same role. */
  useRole(roleArn: string): void {
    if (roleArn === this.identity.roleArn) return;
    this.identity = { ...this.identity, roleArn };
    this.current = undefined;
    this.pending = undefined;
  }

  /** Drop cached credentials (after an ExpiredToken answer) so the next call assumes the role again. */
  invalidate(): void {
    this.current = undefined;
  }

  private async assume(): Promise<AssumedCredentials> {
    const { agentId, projectId, roleArn, sessionSeconds } = this.identity;
    let out;
    try {
      out = await this.sts.send(
        new AssumeRoleCommand({
          RoleArn: roleArn,
          RoleSessionName: sessionName(agentId),
          DurationSeconds: sessionSeconds,
          Tags: [
            { Key: 'ProjectId', Value: projectId },
            { Key: 'AgentId', Value: agentId },
          ],
          TransitiveTagKeys: ['ProjectId', 'AgentId'],
        }),
      );
    } catch (e) {
      const err = e as Error & { $metadata?: { httpStatusCode?: number } };
      if (/^Region is missing/.test(err.message))
        throw new AssumeRoleError('no AWS region configured (set AWS_REGION or a profile region)', false, true);
      if (classifyAwsError(err) === 'unreachable')
        throw new AssumeRoleError(
          `cannot reach AWS STS to assume ${roleArn} (${err.name}: ${err.message.split('\n')[0]}): an AWS outage or a network problem, not a problem with the role`,
          true,
        );
      throw new AssumeRoleError(`cannot assume ${roleArn}: ${err.name}: ${err.message}`);
    }
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.Expiration || !out.AssumedRoleUser?.Arn)
      throw new AssumeRoleError(`cannot assume ${roleArn}: STS answered without credentials`);
    const creds = {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration,
      assumedRoleArn: out.AssumedRoleUser.Arn,
    };
    // A role switched while this AssumeRole was in flight: its answer is not cached for the new role.
    if (this.identity.roleArn === roleArn) this.current = creds;
    return creds;
  }
}
