// Desired state: what aws-warden last set on each thing it manages, written with the execution that set it.
import { stmt, type Db } from './db.js';

export type Aspect = 'tags' | 'sg_rules' | 'bucket_versioning' | 'bucket_public_access' | 'bucket_website' | 'service';

export interface DesiredEntry {
  resource: string;
  aspect: Aspect;
  value: unknown;
}

export interface DesiredRow extends DesiredEntry {
  project: string;
  event_id: string;
  at: string;
}

export class DesiredState {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  record(project: string, eventId: string, entries: DesiredEntry[]): void {
    const put = stmt(
      this.db,
      `INSERT INTO desired_state (project, resource, aspect, value, event_id, at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (project, resource, aspect) DO UPDATE SET value = excluded.value, event_id = excluded.event_id, at = excluded.at`,
    );
    const at = this.clock().toISOString();
    for (const e of entries) put.run(project, e.resource, e.aspect, JSON.stringify(e.value), eventId, at);
  }

  /** A resource aws-warden no longer manages (deleted by it): nothing to compare any more. */
  forget(project: string, resource: string): void {
    stmt(this.db, 'DELETE FROM desired_state WHERE project = ? AND resource = ?').run(project, resource);
  }

  /** Applies a tool's change, inside the caller's transaction. */
  apply(project: string, eventId: string, change: { set?: DesiredEntry[]; forget?: string[] } | undefined): void {
    if (!change) return;
    for (const r of change.forget ?? []) this.forget(project, r);
    this.record(project, eventId, change.set ?? []);
  }

  list(project: string): DesiredRow[] {
    const rows = stmt(this.db, 'SELECT * FROM desired_state WHERE project = ? ORDER BY resource, aspect').all(project) as (Omit<
      DesiredRow,
      'value'
    > & { value: string })[];
    return rows.map((r) => ({ ...r, value: JSON.parse(r.value) as unknown }));
  }
}
