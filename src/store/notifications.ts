// What humans were told: one row per notice, with the webhook deliveries recorded when they settle.
import { stmt, type Db } from './db.js';

export interface NotificationRow {
  id: number;
  ts: string;
  project: string;
  kind: string;
  subject: string;
  body: string;
  event_id: string | null;
  deliveries: string;
}

export class Notifications {
  constructor(private readonly db: Db) {}

  record(n: { ts: string; project: string; kind: string; subject: string; body: string; eventId: string | null }): number {
    const row = stmt(
      this.db,
      'INSERT INTO notifications (ts, project, kind, subject, body, event_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id',
    ).get(n.ts, n.project, n.kind, n.subject, n.body, n.eventId) as { id: number };
    return Number(row.id);
  }

  /** Records how each webhook took it; a store closed meanwhile (the process is stopping) keeps the notice without them. */
  setDeliveries(id: number, deliveries: unknown): void {
    if (this.db.open) stmt(this.db, 'UPDATE notifications SET deliveries = ? WHERE id = ?').run(JSON.stringify(deliveries), id);
  }

  /** The newest `limit`, oldest first. */
  list(limit = 50): NotificationRow[] {
    return (stmt(this.db, 'SELECT * FROM notifications ORDER BY id DESC LIMIT ?').all(limit) as NotificationRow[]).reverse();
  }
}
