// Audit that survives the host: the worker anchors the chain's head in an S3 bucket with Object Lock (compliance
// mode), and `wardenctl audit verify --anchors` finds a store rewritten from its middle, which the chain alone cannot.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectLockConfigurationCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { AnchorBucket, anchorClient } from '../src/anchors/anchors.js';
import { parsePolicy } from '../src/policy/load.js';
import { chainHash, renderBody } from '../src/store/audit.js';
import { translate } from '../src/store/postgres-db.js';
import { rawDb, Store } from '../src/store/store.js';
import { TOOL_NAMES } from '../src/tools/names.js';
import { Worker } from '../src/worker/worker.js';
import { ACCOUNT, admin, fresh } from './helpers/harness.js';
import { freshPgDatabase, hasPostgres, pgExec } from './helpers/pg.js';
import { wardenctl } from './helpers/spawned.js';

async function lockedBucket(lock = true): Promise<string> {
  const bucket = fresh('anchors');
  await admin.s3().send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: lock }));
  if (lock)
    await admin.s3().send(
      new PutObjectLockConfigurationCommand({
        Bucket: bucket,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 1 } } },
      }),
    );
  return bucket;
}

function setup(bucket: string, dir: string) {
  const file = join(dir, 'policy.yaml');
  const yaml = `version: 1
projects: { shop: { budget_usd_month: 100 } }
tiers: { observer: { tools: [get_status] } }
agents: { web-bot: { project: shop, tier: observer, role_arn: "arn:aws:iam::${ACCOUNT}:role/web-bot" } }
anchors: { bucket: ${bucket}, role_arn: "arn:aws:iam::${ACCOUNT}:role/warden-anchor", every_minutes: 0.0001, retention_days: 1 }
`;
  writeFileSync(file, yaml);
  return { file, policy: parsePolicy(yaml, file, TOOL_NAMES) };
}

/** Statements behind the store's back with `?` placeholders, on either kind of store. */
type Sql = (text: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

const backends: { name: string; skip: boolean; location(dir: string): Promise<string>; sql(location: string): Sql }[] = [
  {
    name: 'sqlite',
    skip: false,
    location: async (dir) => join(dir, 'warden.db'),
    sql:
      (file) =>
      async (text, params = []) => {
        const s = Store.open(file);
        try {
          const st = rawDb(s).prepare(text);
          return st.reader ? (st.all(...params) as Record<string, unknown>[]) : (st.run(...params), []);
        } finally {
          s.close();
        }
      },
  },
  {
    name: 'postgres',
    skip: !hasPostgres,
    location: () => freshPgDatabase('anchors'),
    sql:
      (url) =>
      async (text, params = []) =>
        (await pgExec(url, translate(text).text, params)).rows,
  },
];

/** Rewrites the chain from row `from` on, every hash recomputed: it verifies by itself afterwards. */
async function rewriteFrom(sql: Sql, name: string, from: number): Promise<void> {
  await sql(name === 'sqlite' ? 'DROP TRIGGER audit_events_no_update' : 'ALTER TABLE audit_events DISABLE TRIGGER USER');
  await sql(`UPDATE audit_events SET request = ? WHERE seq = ?`, ['{"rewritten":true}', from]);
  const rows = await sql(
    'SELECT seq, id, ts, kind, agent, project, tool, action, request, decision, result, role_arn, request_ids, follows, prev_hash FROM audit_events WHERE seq >= ? ORDER BY seq',
    [from],
  );
  let prev = rows[0].prev_hash as string;
  for (const r of rows) {
    const { prev_hash: _p, ...fields } = r;
    void _p;
    // The row's own seq is a number in the body (node-postgres hands a BIGINT over as text).
    const hash = chainHash(prev, renderBody(Object.values({ ...fields, seq: Number(fields.seq) })));
    await sql('UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?', [prev, hash, r.seq]);
    prev = hash;
  }
}

describe.each(backends)('anchors of a $name store', (b) => {
  it.skipIf(b.skip)(
    'the worker anchors the head; verify --anchors finds a store rewritten from its middle that verifies by itself',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'warden-anchor-'));
      const bucket = await lockedBucket();
      const { file, policy } = setup(bucket, dir);
      const db = await b.location(dir);
      const store = Store.open(db);
      const append = (n: number) => {
        for (let i = 0; i < n; i++)
          store.audit.append({ kind: 'read', agent: 'web-bot', project: 'shop', tool: 'get_status', asked: { i } });
      };
      append(30);
      const worker = new Worker(store, policy, 'test:worker');
      expect((await worker.runOnce()).anchor).toMatchObject({ seq: 30 });
      append(20);
      // A pass with nothing new anchors nothing; one after new rows anchors the new head.
      let anchored: unknown;
      while (!anchored) anchored = (await worker.runOnce()).anchor;
      expect(anchored).toMatchObject({ seq: 50 });
      expect((await worker.runOnce()).anchor).toBeUndefined();
      store.close();

      const ok = await wardenctl('audit', 'verify', '--anchors', '--policy', file, '--db', db);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/anchors: all 2 in s3:\/\/.* match the chain \(newest at #50\)/);

      await rewriteFrom(b.sql(db), b.name, 20);
      // The chain alone is fooled: every hash was recomputed.
      const alone = await wardenctl('audit', 'verify', '--full', '--db', db);
      expect(alone.code, alone.stdout).toBe(0);
      const caught = await wardenctl('audit', 'verify', '--anchors', '--policy', file, '--db', db, '--json');
      expect(caught.code).toBe(1);
      expect(JSON.parse(caught.stdout)).toMatchObject({
        ok: false,
        seq: 30,
        reason: expect.stringMatching(/anchor of #30 .* the chain was rewritten \(or cut\) at or before #30/),
      });

      // Writing a matching anchor over the old one does not hide it: every version is checked.
      const s = Store.open(db, { readOnly: true });
      const rewritten = { seq: 30, hash: s.audit.hashAt(30)!, ts: 'x', anchored_at: new Date().toISOString(), by: 'attacker' };
      s.close();
      await admin.s3().send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: 'aws-warden/anchors/000000000030.json',
          Body: JSON.stringify(rewritten),
          ChecksumAlgorithm: 'SHA256',
        }),
      );
      const still = await wardenctl('audit', 'verify', '--anchors', '--policy', file, '--db', db, '--json');
      expect(still.code).toBe(1);
      expect(JSON.parse(still.stdout)).toMatchObject({ ok: false, seq: 30 });
    },
    120_000,
  );
});

describe('the anchor bucket', () => {
  it('keeps every anchor: a locked version cannot be deleted, even by the account admin', async () => {
    const bucket = await lockedBucket();
    const { policy } = setup(bucket, mkdtempSync(join(tmpdir(), 'warden-anchor-')));
    const anchors = new AnchorBucket(policy.anchors!, anchorClient(policy.anchors!));
    await anchors.write({ seq: 7, hash: 'a'.repeat(64), ts: 't' }, 'test');
    const versions = await admin.s3().send(new ListObjectVersionsCommand({ Bucket: bucket }));
    const v = versions.Versions![0];
    await expect(admin.s3().send(new DeleteObjectCommand({ Bucket: bucket, Key: v.Key, VersionId: v.VersionId }))).rejects.toThrow();
    expect(await anchors.all()).toMatchObject([{ seq: 7, hash: 'a'.repeat(64), by: 'test' }]);
  });

  it('wardenctl iam render --anchors: a role that adds and reads anchors and can never undo one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-anchor-'));
    const { file } = setup('warden-anchors', dir);
    const r = await wardenctl('iam', 'render', '--anchors', '--policy', file);
    expect(r.code, r.stderr).toBe(0);
    const role = JSON.parse(r.stdout) as {
      roleName: string;
      permissions: { Statement: { Sid: string; Effect: string; Action: string[]; Resource: string[] }[] };
    };
    expect(role.roleName).toBe('warden-anchor');
    const bySid = Object.fromEntries(role.permissions.Statement.map((st) => [st.Sid, st]));
    expect(bySid.WriteAnchors).toMatchObject({ Effect: 'Allow', Resource: ['arn:aws:s3:::warden-anchors/aws-warden/anchors/*'] });
    expect(bySid.NeverUndoAnAnchor.Effect).toBe('Deny');
    expect(bySid.NeverUndoAnAnchor.Action).toEqual(expect.arrayContaining(['s3:DeleteObjectVersion', 's3:BypassGovernanceRetention']));
    const none = await wardenctl('iam', 'render', '--anchors', '--policy', join(process.cwd(), 'policy.yaml'));
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--anchors: the policy names no anchors/);
  });

  it('a bucket without Object Lock gets no anchor, and the worker says why', async () => {
    const bucket = await lockedBucket(false);
    const dir = mkdtempSync(join(tmpdir(), 'warden-anchor-'));
    const { policy } = setup(bucket, dir);
    const store = Store.open(join(dir, 'warden.db'));
    store.audit.append({ kind: 'read', agent: 'web-bot', project: 'shop', tool: 'get_status' });
    try {
      expect((await new Worker(store, policy, 'test:worker').runOnce()).anchor).toEqual({
        error: expect.stringMatching(/not anchored: .*(no Object Lock|ObjectLockConfigurationNotFound)/),
      });
    } finally {
      store.close();
    }
    expect((await admin.s3().send(new ListObjectVersionsCommand({ Bucket: bucket }))).Versions ?? []).toEqual([]);
  });
});
