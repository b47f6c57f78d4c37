// Tells humans: a notifications row always, and a JSON POST to each of the project's webhooks (bounded, never blocking).
import type { Store } from '../store/store.js';
import type { ProjectPolicy } from '../policy/schema.js';
import { log } from '../core/log.js';

export interface Notice {
  project: string;
  kind:
    | 'rolled_back'
    | 'escalated'
    | 'proposal'
    | 'approved'
    | 'rejected'
    | 'expired'
    | 'failed'
    | 'promoted'
    | 'demoted'
    | 'scheduled'
    | 'drift'
    | 'backup_failed'
    | 'interrupted'
    | 'cancelled';
  subject: string;
  body: Record<string, unknown>;
  eventId?: string;
}

interface Delivery {
  webhook: string;
  ok: boolean;
  status?: number;
  error?: string;
  attempts: number;
}

const TIMEOUT_MS = 5_000;
const ATTEMPTS = 3;

async function post(url: string, payload: string): Promise<Delivery> {
  let last: Delivery = { webhook: url, ok: false, attempts: 0 };
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: payload,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      last = { webhook: url, ok: res.ok, status: res.status, attempts: attempt };
      if (res.ok || res.status < 500) return last;
    } catch (e) {
      last = { webhook: url, ok: false, error: (e as Error).message, attempts: attempt };
    }
    await new Promise((r) => setTimeout(r, 250 * attempt));
  }
  return last;
}

/**
 * Records the notice and starts the webhook deliveries. The returned promise settles when every delivery
 * has been recorded; callers on the action's path do not await it.
 */
export function notify(store: Store, project: ProjectPolicy, n: Notice): { id: number; delivered: Promise<void> } {
  const ts = store.clock().toISOString();
  const body = { ...n.body, project: n.project, kind: n.kind, subject: n.subject, ts, event_id: n.eventId ?? null };
  const id = store.notifications.record({
    ts,
    project: n.project,
    kind: n.kind,
    subject: n.subject,
    body: JSON.stringify(body),
    eventId: n.eventId ?? null,
  });
  const payload = JSON.stringify(body);
  const delivered = Promise.all(project.notify.map((t) => post(t.webhook, payload)))
    .then((results) => {
      if (results.length) store.notifications.setDeliveries(id, results);
      for (const r of results) if (!r.ok) log.warn(`webhook ${r.webhook} failed after ${r.attempts} attempt(s): ${r.error ?? r.status}`);
    })
    .catch((e) => log.error(`recording webhook results failed: ${(e as Error).message}`));
  return { id, delivered };
}

export type { NotificationRow } from '../store/notifications.js';

export function listNotifications(store: Store, limit = 50) {
  return store.notifications.list(limit);
}
