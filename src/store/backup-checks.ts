// Results of verify_backups per site and service, newest last; `wardenctl backups` reads them.
import { immediate, stmt, type Db } from './db.js';

export interface BackupCheckRow {
  id: number;
  project: string;
  subject: string;
  ok: number;
  detail: string;
  event_id: string;
  at: string;
}

export class BackupChecks {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  record(project: string, eventId: string, subject: string, ok: boolean, detail: unknown): void {
    stmt(this.db, 'INSERT INTO backup_checks (project, subject, ok, detail, event_id, at) VALUES (?, ?, ?, ?, ?, ?)').run(
      project,
      subject,
      ok ? 1 : 0,
      JSON.stringify(detail),
      eventId,
      this.clock().toISOString(),
    );
  }

  /** Several results of one verification, all or none. */
  recordAll(project: string, eventId: string, results: { subject: string; ok: boolean; detail: unknown }[]): void {
    immediate(this.db, () => results.forEach((r) => this.record(project, eventId, r.subject, r.ok, r.detail)));
  }

  /** The results one verification recorded (after a crash: whether it got that far). */
  ofEvent(eventId: string): BackupCheckRow[] {
    return stmt(this.db, 'SELECT * FROM backup_checks WHERE event_id = ? ORDER BY id').all(eventId) as BackupCheckRow[];
  }

  /** The newest result per subject (optionally of one project). */
  latest(project?: string): BackupCheckRow[] {
    return stmt(
      this.db,
      `SELECT b.* FROM backup_checks b JOIN (SELECT MAX(id) AS id FROM backup_checks WHERE CAST(? AS TEXT) IS NULL OR project = ? GROUP BY project, subject) m ON m.id = b.id ORDER BY b.project, b.subject`,
    ).all(project ?? null, project ?? null) as BackupCheckRow[];
  }
}
