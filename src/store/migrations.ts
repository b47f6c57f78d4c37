// Ordered schema migrations; the database's user_version records which have run.
import type Database from 'better-sqlite3';

export interface Migration {
  version: number;
  update(db: Database.Database): void;
}

export const migrations: Migration[] = [
  {
    version: 1,
    update(db) {
      db.exec(`
        CREATE TABLE audit_events (
          seq        INTEGER PRIMARY KEY,
          id         TEXT NOT NULL UNIQUE,
          ts         TEXT NOT NULL,
          kind       TEXT NOT NULL CHECK (kind IN
                       ('requested','denied','escalated','planned','approved','executed','failed','rolled_back')),
          agent      TEXT NOT NULL,
          project    TEXT NOT NULL,
          tool       TEXT NOT NULL,
          action     TEXT,
          request    TEXT,
          decision   TEXT,
          result     TEXT,
          role_arn   TEXT,
          request_ids TEXT,
          follows    TEXT,
          prev_hash  TEXT NOT NULL,
          hash       TEXT NOT NULL
        );
        CREATE INDEX audit_events_agent ON audit_events (agent, seq);
        CREATE INDEX audit_events_ts ON audit_events (ts);
        CREATE INDEX audit_events_follows ON audit_events (follows);
        -- Append-only: the chain detects edits made around these, the triggers stop casual ones.
        CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
          BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
        CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
          BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
      `);
    },
  },
  {
    version: 2,
    update(db) {
      db.exec(`
        -- A reservation holds a change's monthly cost from the guard's check until it executes or fails.
        CREATE TABLE budget_reservations (
          event_id    TEXT PRIMARY KEY,              -- the approved audit event
          project     TEXT NOT NULL,
          agent       TEXT NOT NULL,
          tool        TEXT NOT NULL,
          cents_month INTEGER NOT NULL,
          state       TEXT NOT NULL CHECK (state IN ('reserved', 'committed', 'released')),
          created_at  TEXT NOT NULL,
          closed_at   TEXT,
          note        TEXT
        );
        CREATE INDEX budget_reservations_open ON budget_reservations (project, state);
        -- The run-rate of each resource a project holds; released_at ends it.
        CREATE TABLE budget_resources (
          id          INTEGER PRIMARY KEY,
          project     TEXT NOT NULL,
          agent       TEXT,
          arn         TEXT NOT NULL,
          description TEXT NOT NULL,
          hourly_usd  REAL,                          -- NULL: no known price (blocks new spending)
          cents_month INTEGER,
          started_at  TEXT NOT NULL,
          released_at TEXT,
          source      TEXT NOT NULL CHECK (source IN ('warden', 'reconcile')),
          event_id    TEXT
        );
        CREATE UNIQUE INDEX budget_resources_live ON budget_resources (arn) WHERE released_at IS NULL;
        CREATE INDEX budget_resources_project ON budget_resources (project, released_at);
        -- Cap changes a human approved (request_budget).
        CREATE TABLE budget_adjustments (
          id          INTEGER PRIMARY KEY,
          project     TEXT NOT NULL,
          cents_month INTEGER NOT NULL,
          month       TEXT,                          -- 'YYYY-MM' for this_month, NULL for permanent
          proposal_id TEXT NOT NULL UNIQUE,
          approved_by TEXT NOT NULL,
          created_at  TEXT NOT NULL
        );
        -- What an agent may only suggest, waiting for a human (wardenctl proposals).
        CREATE TABLE proposals (
          id          TEXT PRIMARY KEY,
          kind        TEXT NOT NULL,
          project     TEXT NOT NULL,
          agent       TEXT NOT NULL,
          tool        TEXT NOT NULL,
          reason      TEXT NOT NULL,
          plan        TEXT NOT NULL,
          plan_hash   TEXT NOT NULL,
          risk_flags  TEXT NOT NULL,
          event_id    TEXT NOT NULL,                 -- the escalated audit event
          state       TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'executed', 'failed', 'stale')),
          created_at  TEXT NOT NULL,
          expires_at  TEXT NOT NULL,
          decided_by  TEXT,
          decided_at  TEXT,
          decision_note TEXT
        );
        CREATE INDEX proposals_state ON proposals (state, created_at);
      `);
    },
  },
  {
    version: 3,
    update(db) {
      db.exec(`
        -- What humans were told: rollbacks, escalations, proposals. Webhook results are filled in later.
        CREATE TABLE notifications (
          id        INTEGER PRIMARY KEY,
          ts        TEXT NOT NULL,
          project   TEXT NOT NULL,
          kind      TEXT NOT NULL,
          subject   TEXT NOT NULL,
          body      TEXT NOT NULL,
          event_id  TEXT,
          deliveries TEXT NOT NULL DEFAULT '[]'
        );
        -- One change at a time per key (e.g. a service): held from planning to the outcome.
        CREATE TABLE locks (
          key        TEXT PRIMARY KEY,
          holder     TEXT NOT NULL,
          acquired_at TEXT NOT NULL,
          expires_at TEXT NOT NULL
        );
      `);
    },
  },
  {
    version: 4,
    update(db) {
      db.exec(`
        -- What approval needs to run the stored plan again: the tool's validated arguments, and the outcome.
        ALTER TABLE proposals ADD COLUMN args TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE proposals ADD COLUMN result TEXT;
      `);
    },
  },
  {
    version: 5,
    update(db) {
      db.exec(`
        -- Each deploy of a site to an environment: the exact object versions it made live, and how it went.
        CREATE TABLE deployments (
          id          TEXT PRIMARY KEY,               -- the approved audit event
          project     TEXT NOT NULL,
          site        TEXT NOT NULL,
          environment TEXT NOT NULL,
          bucket      TEXT NOT NULL,
          versions    TEXT NOT NULL,                  -- {"key": "versionId", ...} live after the deploy
          created     TEXT NOT NULL DEFAULT '[]',     -- versions this deploy wrote (what a rollback deletes)
          health      TEXT NOT NULL DEFAULT '[]',
          state       TEXT NOT NULL CHECK (state IN ('in_progress', 'live', 'rolled_back', 'superseded', 'failed')),
          source      TEXT,                           -- a directory, or the deployment promoted
          started_at  TEXT NOT NULL,
          finished_at TEXT
        );
        CREATE INDEX deployments_site ON deployments (project, site, environment, started_at);
      `);
    },
  },
  {
    version: 6,
    update(db) {
      db.exec(`
        -- Tier changes earned or lost since the policy was written; the newest row per agent is in force.
        CREATE TABLE tier_changes (
          id       INTEGER PRIMARY KEY,
          agent    TEXT NOT NULL,
          tier     TEXT NOT NULL,
          at       TEXT NOT NULL,
          by       TEXT NOT NULL,
          reason   TEXT NOT NULL
        );
        CREATE INDEX tier_changes_agent ON tier_changes (agent, id);
      `);
    },
  },
  {
    version: 7,
    update(db) {
      db.exec(`
        -- What aws-warden last set on what it manages (one row per resource and aspect); check_drift compares AWS with it.
        CREATE TABLE desired_state (
          project   TEXT NOT NULL,
          resource  TEXT NOT NULL,                  -- an ARN, or service:<name>
          aspect    TEXT NOT NULL,                  -- tags, sg_rules, bucket_versioning, bucket_public_access, bucket_website, service
          value     TEXT NOT NULL,                  -- JSON
          event_id  TEXT NOT NULL,                  -- the approval whose execution set it
          at        TEXT NOT NULL,
          PRIMARY KEY (project, resource, aspect)
        );
        -- Changes held for a deploy window, and the worker's periodic checks; a claimed job never runs twice.
        CREATE TABLE jobs (
          id          TEXT PRIMARY KEY,
          project     TEXT NOT NULL,
          agent       TEXT NOT NULL,
          tool        TEXT NOT NULL,
          args        TEXT NOT NULL,
          run_at      TEXT NOT NULL,
          why         TEXT NOT NULL,
          state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
          event_id    TEXT,                         -- the audit event that scheduled it
          created_at  TEXT NOT NULL,
          claimed_by  TEXT,
          started_at  TEXT,
          finished_at TEXT,
          result      TEXT
        );
        CREATE INDEX jobs_due ON jobs (state, run_at);
        -- Results of verify_backups, per site and service.
        CREATE TABLE backup_checks (
          id        INTEGER PRIMARY KEY,
          project   TEXT NOT NULL,
          subject   TEXT NOT NULL,                  -- site/<site>/<environment> or service/<name>
          ok        INTEGER NOT NULL,
          detail    TEXT NOT NULL,                  -- JSON: the checks and what failed
          event_id  TEXT NOT NULL,
          at        TEXT NOT NULL
        );
        CREATE INDEX backup_checks_project ON backup_checks (project, id);
      `);
    },
  },
  {
    version: 8,
    update(db) {
      db.exec(`
        -- Flood limits per agent, shared by its server processes: token buckets and the calls in flight.
        CREATE TABLE rate_buckets (
          agent  TEXT NOT NULL,
          kind   TEXT NOT NULL,                     -- calls_per_minute, mutating_calls_per_hour
          tokens REAL NOT NULL,
          at     TEXT NOT NULL,                     -- when tokens was computed
          PRIMARY KEY (agent, kind)
        );
        CREATE TABLE call_slots (
          id         TEXT PRIMARY KEY,              -- host:pid:uuid of the process running the call
          agent      TEXT NOT NULL,
          tool       TEXT NOT NULL,
          started_at TEXT NOT NULL
        );
        CREATE INDEX call_slots_agent ON call_slots (agent);
      `);
    },
  },
  {
    version: 9,
    update(db) {
      // A call its client cancelled gets an outcome kind of its own, 'cancelled' (never a failed health check). SQLite
      // cannot change a CHECK in place: the table is copied row for row (every hash still links) into one that allows it.
      db.exec(`
        CREATE TABLE audit_events_v9 (
          seq        INTEGER PRIMARY KEY,
          id         TEXT NOT NULL UNIQUE,
          ts         TEXT NOT NULL,
          kind       TEXT NOT NULL CHECK (kind IN
                       ('requested','denied','escalated','planned','approved','executed','failed','rolled_back','cancelled')),
          agent      TEXT NOT NULL,
          project    TEXT NOT NULL,
          tool       TEXT NOT NULL,
          action     TEXT,
          request    TEXT,
          decision   TEXT,
          result     TEXT,
          role_arn   TEXT,
          request_ids TEXT,
          follows    TEXT,
          prev_hash  TEXT NOT NULL,
          hash       TEXT NOT NULL
        );
        INSERT INTO audit_events_v9 SELECT seq, id, ts, kind, agent, project, tool, action, request, decision, result,
          role_arn, request_ids, follows, prev_hash, hash FROM audit_events ORDER BY seq;
        DROP TABLE audit_events;
        ALTER TABLE audit_events_v9 RENAME TO audit_events;
        CREATE INDEX audit_events_agent ON audit_events (agent, seq);
        CREATE INDEX audit_events_ts ON audit_events (ts);
        CREATE INDEX audit_events_follows ON audit_events (follows);
        CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
          BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
        CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
          BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
      `);
    },
  },
  {
    version: 10,
    update(db) {
      // A read-only call leaves one row of its own kind, 'read' (what was asked, the decision, a digest of the answer).
      // Each append writes one page per index: the time index (export scans by seq instead) goes, and the follows index
      // covers only rows that follow another, so a read touches the table, its id and its agent's index alone.
      db.exec(`
        CREATE TABLE audit_events_v10 (
          seq        INTEGER PRIMARY KEY,
          id         TEXT NOT NULL UNIQUE,
          ts         TEXT NOT NULL,
          kind       TEXT NOT NULL CHECK (kind IN
                       ('requested','denied','escalated','planned','approved','executed','failed','rolled_back','cancelled','read')),
          agent      TEXT NOT NULL,
          project    TEXT NOT NULL,
          tool       TEXT NOT NULL,
          action     TEXT,
          request    TEXT,
          decision   TEXT,
          result     TEXT,
          role_arn   TEXT,
          request_ids TEXT,
          follows    TEXT,
          prev_hash  TEXT NOT NULL,
          hash       TEXT NOT NULL
        );
        INSERT INTO audit_events_v10 SELECT seq, id, ts, kind, agent, project, tool, action, request, decision, result,
          role_arn, request_ids, follows, prev_hash, hash FROM audit_events ORDER BY seq;
        DROP TABLE audit_events;
        ALTER TABLE audit_events_v10 RENAME TO audit_events;
        CREATE INDEX audit_events_agent ON audit_events (agent, seq);
        CREATE INDEX audit_events_follows ON audit_events (follows) WHERE follows IS NOT NULL;
        CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
          BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
        CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
          BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
        -- Every CHECKPOINT_EVERY rows, the head as appended: verify re-hashes only rows after the newest one.
        CREATE TABLE audit_checkpoints (
          seq   INTEGER PRIMARY KEY,               -- the row whose hash is the head here
          head  TEXT NOT NULL,
          at    TEXT NOT NULL
        );
        CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
          BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
        CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
          BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
      `);
    },
  },
  {
    version: 11,
    update(db) {
      // A change that outlives long_call_seconds goes on as a job of the server that runs it: its latest progress.
      db.exec('ALTER TABLE jobs ADD COLUMN progress TEXT');
    },
  },
  {
    version: 12,
    update(db) {
      // Bearer tokens for `serve --http`, one agent each: the secret itself is never stored, only its SHA-256.
      db.exec(`
        CREATE TABLE agent_tokens (
          id            TEXT PRIMARY KEY,
          agent         TEXT NOT NULL,
          secret_sha256 TEXT NOT NULL,
          created_at    TEXT NOT NULL,
          created_by    TEXT NOT NULL,
          expires_at    TEXT,
          revoked_at    TEXT,
          revoked_by    TEXT
        );
        CREATE INDEX agent_tokens_agent ON agent_tokens (agent);
      `);
    },
  },
  {
    version: 13,
    update() {
      // PostgreSQL's store gained its write functions (pg-migrations.ts); the two schemas share one version number,
      // so a store copied between them is at the same version. SQLite runs the same writes as statements: no change.
    },
  },
];

/** The schema version this aws-warden writes. */
export const latestVersion = (list: Migration[] = migrations): number => list.at(-1)?.version ?? 0;

export function migrate(db: Database.Database, list: Migration[] = migrations): void {
  list.forEach((m, i) => {
    if (i > 0 && m.version <= list[i - 1].version) throw new Error(`migration versions must increase (${m.version})`);
  });
  const latest = list.at(-1)?.version ?? 0;
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > latest)
    throw new Error(`database schema is version ${current}, newer than this aws-warden (${latest}); upgrade aws-warden`);
  for (const m of list) {
    if (m.version <= current) continue;
    db.transaction(() => {
      // Read again under the write lock: another process starting on the same new store may have applied it meanwhile.
      if ((db.pragma('user_version', { simple: true }) as number) >= m.version) return;
      m.update(db);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
}
