// After a crash: a deploy or a promotion settles from what S3 holds for its approval. Complete only when every
// planned write and delete landed and reads back healthy; otherwise delete exactly what the approval wrote (found in
// S3 by the metadata each version carries, recorded or not) and prove every touched key is back where it was.
import type { AgentAws } from '../aws/clients.js';
import { RollbackIncomplete } from '../core/errors.js';
import type { ToolPorts } from '../core/ports.js';
import { probeUrl, readBack, type SiteHealth } from './health.js';
import { restore, writtenBy } from './restore.js';

/** What a site change writes, as its plan fixed it. */
export interface SiteChange {
  bucket: string;
  /** Keys it writes a version of, each with the SHA-256 that version must read back with. */
  writes: { key: string; sha256: string }[];
  /** Keys it deletes (a delete marker on top). */
  deletes: string[];
  /** Key → version live at planning. */
  previous: Record<string, string>;
  healthUrl: string | null;
  healthTimeoutSeconds: number;
}

export type SiteRecovery =
  { outcome: 'completed'; health: SiteHealth[]; why: string } | { outcome: 'undone'; why: string; detail: Record<string, unknown> };

export async function recoverSiteChange(
  aws: AgentAws,
  ports: Pick<ToolPorts, 'deployments'>,
  approvalId: string,
  c: SiteChange,
): Promise<SiteRecovery> {
  const d = ports.deployments.get(approvalId);
  if (!d) return { outcome: 'undone', why: 'it stopped before it wrote anything', detail: { restored: 0 } };
  // What was recorded, and what S3 holds that names this approval (a batch in flight when the process died).
  const recorded = JSON.parse(d.created) as { key: string; versionId: string }[];
  const seen = new Set(recorded.map((v) => `${v.key}\u0000${v.versionId}`));
  const found = await writtenBy(aws, c.bucket, approvalId, { puts: c.writes.map((x) => x.key), deletes: c.deletes, previous: c.previous });
  const created = [...recorded, ...found.filter((v) => !seen.has(`${v.key}\u0000${v.versionId}`))];
  const wrote = new Map(created.map((v) => [v.key, v.versionId]));
  const missing = [...c.writes.map((x) => x.key), ...c.deletes].filter((k) => !wrote.has(k));
  let health: SiteHealth[] = [];
  let why: string;
  if (missing.length === 0) {
    health = await readBack(
      aws,
      c.bucket,
      c.writes.map((x) => ({ key: x.key, versionId: wrote.get(x.key) as string, sha256: x.sha256 })),
    );
    if (c.healthUrl) health.push(await probeUrl(c.healthUrl, c.healthTimeoutSeconds));
    why = health
      .filter((h) => !h.ok)
      .map((h) => `${h.check}: ${h.detail}`)
      .join('; ');
  } else
    why = `${c.writes.length + c.deletes.length - missing.length} of ${c.writes.length + c.deletes.length} writes and deletes landed before the crash`;
  if (!why) {
    const versions: Record<string, string> = { ...c.previous };
    for (const x of c.writes) versions[x.key] = wrote.get(x.key) as string;
    for (const k of c.deletes) delete versions[k];
    ports.deployments.finish(approvalId, 'live', versions, health);
    return { outcome: 'completed', health, why: 'every write landed and the health check passed after a restart' };
  }
  const left = await restore(aws, c.bucket, created, c.previous, [...c.writes.map((x) => x.key), ...c.deletes]);
  if (left.length) {
    ports.deployments.finish(approvalId, 'failed', c.previous, health);
    throw new RollbackIncomplete(
      `was interrupted (${why}) and could not be fully undone after a restart: ${left.length} key(s) of ${c.bucket} are not at their previous version (${left
        .slice(0, 5)
        .map((l) => l.key)
        .join(', ')}). A human has been notified and must restore them`,
      { bucket: c.bucket, left },
    );
  }
  ports.deployments.finish(approvalId, 'rolled_back', c.previous, health);
  return { outcome: 'undone', why, detail: { bucket: c.bucket, restored: created.length, health } };
}
