// The built `aws-warden serve` on stdio, with each kind of client a user has: the v2 SDK client speaking 2026-07-28
// (server/discover, a `_meta` envelope on every request, consent by input_required), the v2 client on the 2025
// handshake, and the v1 SDK client. Each lists tools, reads, is denied, gets consent in the client, has a long change
// handed to a job that finishes, and finally leaves mid-change: the change completes and the audit says so.
import { Client as V2Client } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { Store } from '../src/store/store.js';
import { admin, call, world, type AnyClient } from './helpers/harness.js';
import { untilValue } from './helpers/served.js';
import { useFaultProxy, type Seen } from './helpers/fault-proxy.js';
import { spawnServe, type PipeTransport } from './helpers/serve-process.js';

const servers: Server[] = [];
// S3 behind a proxy the test controls: the last step holds an upload in flight while the client leaves.
const proxy = useFaultProxy('S3');
afterAll(() => servers.forEach((s) => s.close()));

const approve = { action: 'accept' as const, content: { approve: true } };

type Kind = { era: 'modern' | 'legacy'; connect: (t: PipeTransport, name: string) => Promise<AnyClient & { close(): Promise<void> }> };

const kinds: Record<string, Kind> = {
  'v2 client on 2026-07-28 (stateless, per-request _meta)': {
    era: 'modern',
    connect: async (t, name) => {
      const c = new V2Client(
        { name, version: '0' },
        { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: { pin: '2026-07-28' } } },
      );
      c.setRequestHandler('elicitation/create', async () => approve);
      await c.connect(t as never);
      expect(c.getProtocolEra()).toBe('modern');
      return c;
    },
  },
  'v2 client on the 2025-11-25 handshake': {
    era: 'legacy',
    connect: async (t, name) => {
      const c = new V2Client({ name, version: '0' }, { capabilities: { elicitation: { form: {} } } });
      c.setRequestHandler('elicitation/create', async () => approve);
      await c.connect(t as never);
      expect(c.getProtocolEra()).toBe('legacy');
      return c;
    },
  },
  'v1 SDK client (handshake)': {
    era: 'legacy',
    connect: async (t, name) => {
      const c = new V1Client({ name, version: '0' }, { capabilities: { elicitation: {} } });
      c.setRequestHandler(ElicitRequestSchema, async () => approve);
      await c.connect(t as never);
      return c;
    },
  },
};

describe('aws-warden serve with each client kind', () => {
  it.each(Object.entries(kinds))('%s', { timeout: 180_000 }, async (_kind, kind) => {
    let healthy = false;
    const health = createServer((_req, res) => (res.writeHead(healthy ? 200 : 503), res.end()));
    await new Promise<void>((r) => health.listen(0, '127.0.0.1', r));
    servers.push(health);
    const url = `http://127.0.0.1:${(health.address() as { port: number }).port}/`;
    const root = mkdtempSync(join(tmpdir(), 'warden-eras-'));
    const site = join(root, 'site');
    mkdirSync(site);
    writeFileSync(join(site, 'index.html'), '<h1>eras</h1>');
    const w = world({
      topYaml: 'long_call_seconds: 2',
      projectYaml: `    in_client_consent: [critical_tag]
    approver_role_arn: "arn:aws:iam::123456789012:role/{project}-approver"
    sites: { roots: ["${root}"], max_files: 10, cache_control: "no-cache", health_timeout_seconds: 60, soak_minutes: 30, prod_requires_approval: false, health_url: "${url}" }`,
    });
    const policyFile = join(root, 'policy.yaml');
    writeFileSync(policyFile, w.yaml);
    const dbFile = join(root, 'warden.db');
    const serve = spawnServe({ agent: w.agent, policyFile, dbFile });
    const name = `eras-${kind.era}`;
    const client = await kind.connect(serve.transport, name);
    const store = Store.open(dbFile);
    try {
      // Tools, a read, a denial.
      const { tools } = (await (client as unknown as V2Client).listTools()) as { tools: { name: string }[] };
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['get_status', 'tag_resource', 'deploy_static_site', 'get_job']));
      const status = await call(client, 'get_status', {});
      expect(status.isError, status.text).toBeFalsy();
      expect(status.structured?.agent).toBe(w.agent);
      const theirs = await launchTagged(admin.ec2(), { ProjectId: w.other });
      const denied = await call(client, 'tag_resource', { resource_arn: theirs, set: { Owner: 'me' } });
      expect(denied.isError).toBe(true);
      expect(store.audit.tail({ limit: 5 }).map((e) => e.kind)).toContain('denied');
      // Invalid input reaches the guard (no SDK validation ahead of it) and is on the record, naming the field.
      const invalid = await call(client, 'tag_resource', { resource_arn: theirs, set: { ProjectId: 'mine' } });
      expect(invalid.isError).toBe(true);
      expect(invalid.text).toMatch(/set\.ProjectId/);
      expect(store.audit.tail({ limit: 1 })[0]).toMatchObject({ kind: 'denied', tool: 'tag_resource' });
      // A traceparent in the request's _meta is on the call's row.
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      await client.callTool({ name: 'get_status', arguments: {}, _meta: { traceparent } } as never);
      expect(JSON.parse(store.audit.tail({ limit: 1 })[0].decision ?? '{}')).toMatchObject({ traceparent });

      // Consent in the client: input_required on 2026-07-28, elicitation on the handshake; the same approval of record.
      const critical = await launchTagged(admin.ec2(), { ProjectId: w.project, Criticality: 'critical' });
      const consented = await call(client, 'tag_resource', { resource_arn: critical, set: { Owner: 'ops' } });
      expect(consented.structured, consented.text).toMatchObject({ status: 'executed' });
      expect(store.proposals.list()[0]).toMatchObject({ state: 'executed', decided_by: `in-client:${name}` });

      // A change past long_call_seconds becomes a job that finishes.
      const long = await call(client, 'deploy_static_site', { site: 'shop', source_dir: site, environment: 'staging' });
      expect(long.structured, long.text).toMatchObject({ status: 'running', job_id: expect.stringMatching(/^job-/) });
      healthy = true;
      const job = await untilValue('the job to settle', async () => {
        const j = (await call(client, 'get_job', { job_id: long.structured?.job_id as string })).structured;
        return j && j.state !== 'running' ? j : undefined;
      });
      expect(job).toMatchObject({ state: 'done', result: { status: 'executed' } });

      // The client leaves mid-change, while the deploy's upload is in flight: the upload goes on, the change completes,
      // and the server exits once it has.
      writeFileSync(join(site, 'index.html'), '<h1>eras, again</h1>');
      let release = () => {};
      const released = new Promise<void>((r) => (release = r));
      const upload = (r: Seen) => r.method === 'PUT' && r.path.endsWith('/index.html');
      proxy().rule = (r) => (upload(r) ? { after: released } : 'pass');
      const seen = proxy().seen.length;
      void call(client, 'deploy_static_site', { site: 'shop', source_dir: site, environment: 'staging' }).catch(() => {});
      await untilValue('the upload to be in flight', () => (proxy().seen.slice(seen).some(upload) ? true : undefined));
      await serve.transport.close();
      // The server has seen its client leave (the SDK aborts the requests in flight at that moment): now let S3 answer.
      await untilValue('the server to notice', () => (serve.stderr().includes('stdin closed') ? true : undefined));
      release();
      expect(await serve.exited, serve.stderr()).toBe(0);
      const approval = store.audit
        .tail({ limit: 20 })
        .filter((e) => e.kind === 'approved' && e.tool === 'deploy_static_site')
        .at(-1);
      const outcome = store.audit.followers(approval?.id as string).map((e) => e.kind);
      expect(outcome).toEqual(['executed']);
    } finally {
      store.close();
      serve.child.kill();
    }
  });
});
