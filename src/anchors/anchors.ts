// Anchors: the audit chain's head (seq and hash) written outside the store, to an S3 bucket whose Object Lock in
// compliance mode keeps every version for its retention, under a role of its own. A store rewritten from some row on
// verifies by itself (every hash recomputed), but no longer matches the anchors written before the rewrite.
import {
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';
import { s3PathStyle } from '../aws/endpoint.js';
import { AgentSession } from '../aws/session.js';
import { clientBounds } from '../aws/timeouts.js';
import type { Policy } from '../policy/schema.js';
import type { AuditLog } from '../store/audit.js';

export type AnchorConfig = NonNullable<Policy['anchors']>;

export interface Anchor {
  seq: number;
  hash: string;
  /** The anchored row's own time. */
  ts: string;
  anchored_at: string;
  by: string;
}

export interface StoredAnchor extends Anchor {
  key: string;
  versionId: string;
}

const keyOf = (cfg: AnchorConfig, seq: number) => `${cfg.prefix}${String(seq).padStart(12, '0')}.json`;

/** The anchor bucket as the anchor role sees it (assumed from the base credentials, like an agent's role). */
export function anchorClient(cfg: AnchorConfig, base?: AwsCredentialIdentityProvider): S3Client {
  const session = new AgentSession({ agentId: 'audit-anchor', projectId: 'aws-warden', roleArn: cfg.role_arn, sessionSeconds: 900 }, base);
  return new S3Client({ credentials: session.provider, forcePathStyle: s3PathStyle as unknown as boolean, ...clientBounds() });
}

export class AnchorBucket {
  constructor(
    private readonly cfg: AnchorConfig,
    private readonly s3: S3Client,
  ) {}

  /** Why the bucket cannot hold anchors, or null: without Object Lock in compliance mode an anchor could be deleted. */
  async unfit(): Promise<string | null> {
    try {
      const out = await this.s3.send(new GetObjectLockConfigurationCommand({ Bucket: this.cfg.bucket }));
      const c = out.ObjectLockConfiguration;
      if (c?.ObjectLockEnabled !== 'Enabled') return `bucket ${this.cfg.bucket} has no Object Lock`;
      const mode = c.Rule?.DefaultRetention?.Mode;
      if (mode !== undefined && mode !== 'COMPLIANCE') return `bucket ${this.cfg.bucket}'s default retention is ${mode}, not COMPLIANCE`;
      return null;
    } catch (e) {
      return `bucket ${this.cfg.bucket}: ${(e as Error).name}: ${(e as Error).message}`;
    }
  }

  /** Writes the head as an anchor, retained in compliance mode for retention_days. */
  async write(head: { seq: number; hash: string; ts: string }, by: string, now = new Date()): Promise<Anchor> {
    const anchor: Anchor = { seq: head.seq, hash: head.hash, ts: head.ts, anchored_at: now.toISOString(), by };
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.cfg.bucket,
        Key: keyOf(this.cfg, head.seq),
        Body: `${JSON.stringify(anchor)}\n`,
        ContentType: 'application/json',
        ChecksumAlgorithm: 'SHA256',
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: new Date(now.getTime() + this.cfg.retention_days * 86_400_000),
      }),
    );
    return anchor;
  }

  /**
   * Every anchor ever written, every version of every key: a later version written over an anchor (by someone who
   * could write the bucket) does not hide the one before it, which Object Lock keeps.
   */
  async all(): Promise<StoredAnchor[]> {
    const found: { key: string; versionId: string }[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      const page = await this.s3.send(
        new ListObjectVersionsCommand({
          Bucket: this.cfg.bucket,
          Prefix: this.cfg.prefix,
          KeyMarker: keyMarker,
          VersionIdMarker: versionMarker,
        }),
      );
      for (const v of page.Versions ?? []) if (v.Key && v.VersionId) found.push({ key: v.Key, versionId: v.VersionId });
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      versionMarker = page.NextVersionIdMarker;
    }
    const anchors: StoredAnchor[] = [];
    for (const f of found) {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.cfg.bucket, Key: f.key, VersionId: f.versionId }));
      const text = (await out.Body?.transformToString()) ?? '';
      let a: Anchor;
      try {
        a = JSON.parse(text) as Anchor;
      } catch {
        throw new Error(`anchor ${f.key} (version ${f.versionId}) is not JSON`);
      }
      if (!Number.isSafeInteger(a.seq) || a.seq < 1 || !/^[0-9a-f]{64}$/.test(a.hash) || f.key !== keyOf(this.cfg, a.seq))
        throw new Error(`anchor ${f.key} (version ${f.versionId}) does not hold a seq and hash of its own key`);
      anchors.push({ ...a, key: f.key, versionId: f.versionId });
    }
    return anchors.sort((x, y) => x.seq - y.seq);
  }
}

export type AnchorCheck =
  { ok: true; anchors: number; newest: number | null } | { ok: false; anchors: number; seq: number; reason: string };

/** Every anchor against the store's row of its seq: the first that disagrees names where the rewrite (or cut) is. */
export function checkAnchors(audit: AuditLog, anchors: readonly StoredAnchor[]): AnchorCheck {
  for (const a of anchors) {
    const row = audit.hashAt(a.seq);
    if (row !== a.hash)
      return {
        ok: false,
        anchors: anchors.length,
        seq: a.seq,
        reason: `anchor of #${a.seq} written ${a.anchored_at} holds ${a.hash.slice(0, 16)}… but the store has ${row ? `${row.slice(0, 16)}…` : 'no such row'}: the chain was rewritten (or cut) at or before #${a.seq}`,
      };
  }
  return { ok: true, anchors: anchors.length, newest: anchors.at(-1)?.seq ?? null };
}

/** The worker's step: a new anchor when the head moved and every_minutes passed since this process's last one. */
export class Anchoring {
  private last: { seq: number; at: number } | null = null;

  constructor(
    private readonly cfg: AnchorConfig,
    private readonly bucket: AnchorBucket,
    private readonly audit: AuditLog,
    private readonly by: string,
    private readonly clock: () => number = Date.now,
  ) {}

  async step(): Promise<{ anchored?: Anchor; refused?: string } | null> {
    const head = this.audit.head();
    if (!head) return null;
    if (this.last && (this.last.seq === head.seq || this.clock() - this.last.at < this.cfg.every_minutes * 60_000)) return null;
    const unfit = await this.bucket.unfit();
    if (unfit) return { refused: unfit };
    const anchored = await this.bucket.write(head, this.by, new Date(this.clock()));
    this.last = { seq: head.seq, at: this.clock() };
    return { anchored };
  }
}
