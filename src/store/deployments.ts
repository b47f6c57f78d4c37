// Deployments of sites: which object versions each made live, its health results, and its state.
import { immediate, stmt, type Db } from './db.js';

export interface DeploymentRow {
  id: string;
  project: string;
  site: string;
  environment: string;
  bucket: string;
  versions: string;
  created: string;
  health: string;
  state: 'in_progress' | 'live' | 'rolled_back' | 'superseded' | 'failed';
  source: string | null;
  started_at: string;
  finished_at: string | null;
}

export class Deployments {
  constructor(
    private readonly db: Db,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  start(d: { id: string; project: string; site: string; environment: string; bucket: string; source: string }): void {
    stmt(
      this.db,
      `INSERT INTO deployments (id, project, site, environment, bucket, versions, state, source, started_at)
       VALUES (?, ?, ?, ?, ?, '{}', 'in_progress', ?, ?) ON CONFLICT DO NOTHING`,
    ).run(d.id, d.project, d.site, d.environment, d.bucket, d.source, this.clock().toISOString());
  }

  /** Records what a running deploy wrote, as it writes it, so a crash leaves enough to roll back. */
  noteCreated(id: string, created: { key: string; versionId: string }[]): void {
    stmt(this.db, 'UPDATE deployments SET created = ? WHERE id = ?').run(JSON.stringify(created), id);
  }

  finish(id: string, state: 'live' | 'rolled_back' | 'failed', versions: Record<string, string>, health: unknown): void {
    const now = this.clock().toISOString();
    immediate(this.db, () => {
      const row = this.get(id);
      if (state === 'live' && row)
        stmt(
          this.db,
          "UPDATE deployments SET state = 'superseded' WHERE project = ? AND site = ? AND environment = ? AND state = 'live' AND id != ?",
        ).run(row.project, row.site, row.environment, id);
      stmt(this.db, 'UPDATE deployments SET state = ?, versions = ?, health = ?, finished_at = ? WHERE id = ?').run(
        state,
        JSON.stringify(versions),
        JSON.stringify(health),
        now,
        id,
      );
    });
  }

  get(id: string): DeploymentRow | undefined {
    return stmt(this.db, 'SELECT * FROM deployments WHERE id = ?').get(id) as DeploymentRow | undefined;
  }

  live(project: string, site: string, environment: string): DeploymentRow | undefined {
    return stmt(
      this.db,
      "SELECT * FROM deployments WHERE project = ? AND site = ? AND environment = ? AND state = 'live' ORDER BY started_at DESC LIMIT 1",
    ).get(project, site, environment) as DeploymentRow | undefined;
  }

  /** Per bucket of a project: its site, environment and when it was last deployed to (what unused-site checks read). */
  lastDeploys(project: string): { bucket: string; site: string; environment: string; last: string }[] {
    return stmt(
      this.db,
      // Portable SQL (no bare columns beside an aggregate): the newest deployment's row of each bucket.
      `SELECT d.bucket, d.site, d.environment, d.started_at AS last FROM deployments d
        WHERE d.project = ? AND d.started_at = (SELECT MAX(x.started_at) FROM deployments x WHERE x.project = d.project AND x.bucket = d.bucket)
        ORDER BY d.bucket`,
    ).all(project) as {
      bucket: string;
      site: string;
      environment: string;
      last: string;
    }[];
  }

  /** The live deployment of every site and environment of a project. */
  allLive(project: string): DeploymentRow[] {
    return stmt(this.db, "SELECT * FROM deployments WHERE project = ? AND state = 'live' ORDER BY site, environment").all(
      project,
    ) as DeploymentRow[];
  }

  history(project: string, site: string, limit = 20): DeploymentRow[] {
    return stmt(this.db, 'SELECT * FROM deployments WHERE project = ? AND site = ? ORDER BY started_at DESC LIMIT ?').all(
      project,
      site,
      limit,
    ) as DeploymentRow[];
  }

  unfinished(project: string): DeploymentRow[] {
    return stmt(this.db, "SELECT * FROM deployments WHERE project = ? AND state = 'in_progress' ORDER BY started_at").all(
      project,
    ) as DeploymentRow[];
  }
}
