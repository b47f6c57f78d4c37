// Renders audit rows as a terminal table (wardenctl audit tail, the demo's closing trail).
import { renderTable } from './table.js';
import type { AuditRow } from '../store/audit.js';

function brief(row: AuditRow): string {
  const parse = (s: string | null) => (s ? (JSON.parse(s) as Record<string, unknown>) : null);
  const d = parse(row.decision);
  const r = parse(row.result);
  if (row.kind === 'denied' || row.kind === 'escalated') return `${d?.rule ?? ''}: ${String(d?.reason ?? '')}`;
  if (row.kind === 'failed') return String(r?.error ?? d?.stage ?? '');
  if (row.kind === 'approved' || row.kind === 'planned')
    return row.action ?? `checked ${(d?.checked as string[] | undefined)?.join(',') ?? ''}`;
  if (row.kind === 'requested') return (row.request ?? '').slice(0, 80);
  // A read's one row: what it asked, and the answer it gave (its size and digest; the agent alone has the whole).
  if (row.kind === 'read')
    return `${(row.request ?? '{}').slice(0, 60)} → ${String(r?.bytes ?? '?')} B, ${String(r?.$digest ?? '').slice(0, 19)}…`;
  if (row.kind === 'executed') return (row.result ?? '').slice(0, 80);
  return '';
}

export function auditTable(rows: AuditRow[], width?: number): string {
  return renderTable(
    ['#', 'time (UTC)', 'agent', 'tool', 'event', 'detail'],
    rows.map((row) => [row.seq, row.ts.slice(0, 19).replace('T', ' '), row.agent, row.tool, row.kind, brief(row)]),
    { width, keep: ['#'] },
  );
}
