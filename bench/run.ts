// npm run bench: guard+audit+MCP overhead against the bare SDK on one moto, audit append rate, chain verify time,
// budget races, deploys, operations (windows, worker, drift), many instances, and start-up times.
import { DescribeInstancesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { GetResourcesCommand } from '@aws-sdk/client-resource-groups-tagging-api';
import { Client } from '@modelcontextprotocol/client';
import { InMemoryTransport } from '@modelcontextprotocol/server';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EC2Client } from '@aws-sdk/client-ec2';
import { AgentAws } from '../src/aws/clients.js';
import { anyImageId, launchTagged } from '../src/demo/seed.js';
import { emulatorEnv, startMoto } from '../src/emulator/moto.js';
import { parsePolicy } from '../src/policy/load.js';
import type { Policy } from '../src/policy/schema.js';
import { resolveAgent } from '../src/core/agent.js';
import { awsFor } from '../src/registry/agent-aws.js';
import { createServer } from '../src/server/create-server.js';
import { Store } from '../src/store/store.js';
import { toolNames } from '../src/tools/index.js';
import { appendsBench, verifyBench } from './audit.js';
import { operationsBench } from './operations.js';
import { startupBench } from './startup.js';
import { httpBench } from './http.js';
import { stdioBench } from './stdio.js';
import { storesBench } from './stores.js';
import { ms, summarize, time } from './stats.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'warden-bench-'));
const out = (s: string) => console.log(s);

/** A guarded server on a file store and an MCP client that, like a real one, has listed the tools (and so validates output). */
async function inProcess(policy: Policy, agentId: string) {
  const agent = resolveAgent(policy, agentId);
  const store = Store.open(join(tmp(), 'warden.db'));
  const aws = awsFor(agent, store);
  const session = aws.session;
  const server = createServer({ agent, store, aws });
  const client = new Client({ name: 'bench', version: '0' });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await Promise.all([client.connect(a), server.connect(b)]);
  await client.listTools();
  return { client, store, aws, session };
}

async function overhead(): Promise<void> {
  const policy = parsePolicy(
    `version: 1
projects: { bench: { budget_usd_month: 10 } }
tiers: { observer: { tools: [get_status, list_resources] } }
agents: { bench-bot: { project: bench, tier: observer, role_arn: "arn:aws:iam::123456789012:role/bench-bot" } }
rate_limits: { calls_per_minute: 100000, mutating_calls_per_hour: 100000, concurrent_calls: 1000 }
`,
    'bench.yaml',
    toolNames,
  );
  const ec2 = new EC2Client({});
  for (let i = 0; i < 10; i++) await launchTagged(ec2, { ProjectId: 'bench', Name: `b${i}` });

  const { client, store, session } = await inProcess(policy, 'bench-bot');

  // The same read with the bare SDK: same credentials, same two calls, no guard, no audit, no MCP.
  const bare = new AgentAws(session, () => false);
  const bareList = async () => {
    const page = await bare.tagging.send(
      new GetResourcesCommand({
        TagFilters: [{ Key: 'ProjectId', Values: ['bench'] }],
        ResourceTypeFilters: ['ec2:instance', 'ec2:security-group', 'ec2:volume', 's3'],
        ResourcesPerPage: 100,
      }),
    );
    const ids = (page.ResourceTagMappingList ?? []).map((m) => m.ResourceARN?.split('/').pop() ?? '').filter((x) => x.startsWith('i-'));
    await bare.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }] }));
  };
  const guardedList = async () => {
    const r = await client.callTool({ name: 'list_resources', arguments: {} });
    if (r.isError) throw new Error(JSON.stringify(r.content));
  };
  const guardedStatus = async () => {
    const r = await client.callTool({ name: 'get_status', arguments: {} });
    if (r.isError) throw new Error(JSON.stringify(r.content));
  };

  // Alternate the two, call by call, so drift in moto's speed hits both sides alike.
  const N = 400;
  for (let i = 0; i < 20; i++) await Promise.all([guardedList(), bareList()]);
  const g: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < N; i++) {
    let t = performance.now();
    await guardedList();
    g.push(performance.now() - t);
    t = performance.now();
    await bareList();
    s.push(performance.now() - t);
  }
  const gs = summarize(g);
  const ss = summarize(s);
  const diffs = summarize(g.map((x, i) => x - s[i]));
  // get_status against an MCP ping on the same in-memory connection, alternating: the protocol's own floor.
  const statuses: number[] = [];
  const pings: number[] = [];
  for (let i = 0; i < 50; i++) await guardedStatus();
  for (let i = 0; i < 2000; i++) {
    let t = performance.now();
    await guardedStatus();
    statuses.push(performance.now() - t);
    t = performance.now();
    await client.ping();
    pings.push(performance.now() - t);
  }
  const st = summarize(statuses);
  const pg = summarize(pings);
  out(`list_resources over 10 owned instances (moto on loopback), ${N} calls each, alternating:`);
  out(`  guarded via MCP client   median ${ms(gs.median)}  p99 ${ms(gs.p99)}`);
  out(`  bare SDK, same reads     median ${ms(ss.median)}  p99 ${ms(ss.p99)}`);
  out(
    `  overhead (guard + audit + MCP): difference of medians ${ms(gs.median - ss.median)}; median of paired differences ${ms(diffs.median)}`,
  );
  out(`  ratio guarded/bare (medians) ${(gs.median / ss.median).toFixed(3)}× (target overhead ≤ 0.5 ms)`);
  out(
    `get_status (no AWS round trip: guard, the admission commit, its one read row with the call slot freed in the same commit, MCP), 2000 calls: median ${ms(st.median)}  p99 ${ms(st.p99)}; MCP ping on the same connection median ${ms(pg.median)} — ping + ${ms(st.median - pg.median)} (target ≤ 0.25 ms median)`,
  );
  await client.close();
  store.close();
}

/** get_service and list_resources over many owned instances, against the raw paginated DescribeInstances. */
async function manyInstances(n: number): Promise<void> {
  const ec2 = new EC2Client({});
  const image = await anyImageId(ec2);
  const t0 = performance.now();
  for (let done = 0; done < n; done += 500) {
    const count = Math.min(500, n - done);
    await ec2.send(
      new RunInstancesCommand({
        ImageId: image,
        InstanceType: 't3.micro',
        MinCount: count,
        MaxCount: count,
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: 'ProjectId', Value: 'fleet' },
              { Key: 'Service', Value: 'web' },
              { Key: 'AgentId', Value: 'fleet-bot' },
            ],
          },
        ],
      }),
    );
  }
  out(`seeded ${n.toLocaleString('en')} instances in moto in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const policy = parsePolicy(
    `version: 1
projects: { fleet: { budget_usd_month: 100000, services: { web: { image_id: ${image}, instance_types: [t3.micro], max: ${n} } } } }
tiers: { observer: { tools: [get_service, list_resources] } }
agents: { fleet-bot: { project: fleet, tier: observer, role_arn: "arn:aws:iam::123456789012:role/fleet-bot" } }
rate_limits: { calls_per_minute: 100000, mutating_calls_per_hour: 100000, concurrent_calls: 1000 }
`,
    'bench.yaml',
    toolNames,
  );
  const { client, store, aws } = await inProcess(policy, 'fleet-bot');
  const raw = async () => {
    let token: string | undefined;
    let count = 0;
    do {
      const page = await aws.ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: 'tag:ProjectId', Values: ['fleet'] },
            { Name: 'tag:Service', Values: ['web'] },
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
          ],
          MaxResults: 1000,
          NextToken: token,
        }),
      );
      count += (page.Reservations ?? []).reduce((s, r) => s + (r.Instances?.length ?? 0), 0);
      token = page.NextToken;
    } while (token);
    if (count !== n) throw new Error(`raw saw ${count}`);
  };
  const guarded = (tool: string, args: Record<string, unknown>, check: (o: Record<string, unknown>) => boolean) => async () => {
    // moto takes tens of seconds a call at this size: past the SDK client's 60 s default on a loaded machine.
    const r = await client.callTool({ name: tool, arguments: args }, { timeout: 600_000 });
    if (r.isError || !check(r.structuredContent as Record<string, unknown>))
      throw new Error(`${tool}: ${JSON.stringify(r.content).slice(0, 300)}`);
  };
  const rss = () => process.memoryUsage().rss / 2 ** 20;
  const rssBefore = rss();
  const runs = 3;
  const r = await time(runs, 1, raw);
  const g = await time(
    runs,
    1,
    guarded('get_service', { service: 'web' }, (o) => o.count === n),
  );
  const rssAfter = rss();
  out(`over ${n.toLocaleString('en')} owned instances (${runs} runs each, medians):`);
  out(`  raw paginated DescribeInstances   ${(r.median / 1000).toFixed(2)} s`);
  out(
    `  get_service (guarded, MCP, + status checks in batches of 100)  ${(g.median / 1000).toFixed(2)} s   ratio ${(g.median / r.median).toFixed(2)}×`,
  );
  const l = await time(
    runs,
    1,
    guarded(
      'list_resources',
      { resource_types: ['ec2:instance'], max_results: 500 },
      (o) => (o.resources as unknown[]).length === Math.min(500, n),
    ),
  );
  out(`  list_resources, first page of 500 (tagging API + states)    ${(l.median / 1000).toFixed(2)} s`);
  out(`  process RSS ${rssBefore.toFixed(0)} MiB before, ${rssAfter.toFixed(0)} MiB after the get_service runs`);
  await client.close();
  store.close();
}

/** deploy_static_site of 1,000 small files and one 50 MB file, through MCP, against the same uploads with the bare SDK. */
async function deployBench(): Promise<void> {
  const root = tmp();
  const site = join(root, 'site');
  mkdirSync(join(site, 'assets'), { recursive: true });
  writeFileSync(join(site, 'index.html'), '<h1>bench</h1>');
  for (let i = 0; i < 1000; i++) writeFileSync(join(site, 'assets', `f${i}.js`), `// file ${i}\n${'x'.repeat(1000)}`);
  writeFileSync(join(site, 'big.bin'), Buffer.alloc(50 * 2 ** 20, 7));
  const policy = parsePolicy(
    `version: 1
projects: { sitebench: { budget_usd_month: 1000, sites: { roots: ["${root}"], max_files: 2000 } } }
tiers: { operator: { tools: [deploy_static_site] } }
agents: { site-bot: { project: sitebench, tier: operator, role_arn: "arn:aws:iam::123456789012:role/site-bot" } }
rate_limits: { calls_per_minute: 100000, mutating_calls_per_hour: 100000, concurrent_calls: 1000 }
`,
    'bench.yaml',
    toolNames,
  );
  const { client, store, aws } = await inProcess(policy, 'site-bot');
  // Planning alone (a dry run: the scan and one hashing read of every file, the bucket's state), for the breakdown.
  let t = performance.now();
  await client.callTool({
    name: 'deploy_static_site',
    arguments: { site: 'bench', source_dir: site, environment: 'staging', dry_run: true },
  });
  const planning = performance.now() - t;
  t = performance.now();
  const r = await client.callTool({ name: 'deploy_static_site', arguments: { site: 'bench', source_dir: site, environment: 'staging' } });
  const guarded = performance.now() - t;
  if (r.isError) throw new Error(JSON.stringify(r.content).slice(0, 400));
  // The bare SDK: the same 1,001 small puts, 8 at a time, and the 50 MB file in 8 MB parts, into a fresh bucket, each
  // asking S3 for the same SHA-256 checksum the deploy asks for.
  const bucket = `bare-${Date.now()}`;
  const files = readdirSync(join(site, 'assets'))
    .map((f) => join(site, 'assets', f))
    .concat(join(site, 'index.html'));
  t = performance.now();
  // A bare client with the agent's own credentials: the same role, no write gate, no audit.
  const bareS3 = new S3Client({ credentials: aws.session.provider, forcePathStyle: true });
  await bareS3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (let i = 0; i < files.length; i += 8)
    await Promise.all(
      files.slice(i, i + 8).map(async (f) => {
        const body = await readFile(f);
        const sum = createHash('sha256').update(body).digest('base64');
        const key = f.slice(site.length + 1);
        return bareS3.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ChecksumAlgorithm: 'SHA256', ChecksumSHA256: sum }),
        );
      }),
    );
  await new Upload({
    client: bareS3,
    params: { Bucket: bucket, Key: 'big.bin', Body: createReadStream(join(site, 'big.bin')), ChecksumAlgorithm: 'SHA256' },
    queueSize: 4,
    partSize: 8 * 2 ** 20,
  }).done();
  const bare = performance.now() - t;
  out(
    `deploy of 1,000 small files + one 50 MB file (moto): deploy_static_site via MCP ${(guarded / 1000).toFixed(2)} s (planning, the bucket's setup, the uploads checked by S3's checksums), bare SDK uploads ${(bare / 1000).toFixed(2)} s, ratio ${(guarded / bare).toFixed(2)}× (planning alone, as a dry run: ${(planning / 1000).toFixed(2)} s)`,
  );
  await client.close();
  store.close();
}

async function main(): Promise<void> {
  const emulator = await startMoto();
  Object.assign(process.env, emulatorEnv(emulator.endpoint), { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
  out(`aws-warden bench — node ${process.version}, ${new Date().toISOString()}`);
  // A loaded machine moves every figure: say how loaded it was, and warn when the run queue is longer than the cores.
  const [load1] = loadavg();
  out(
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} on ${cpus().length} cores${load1 > cpus().length ? ' — WARNING: busier than its cores; figures will be high' : ''}`,
  );
  // BENCH_ONLY=instances npm run bench runs the last part alone (it needs its own fresh emulator anyway);
  // BENCH_ONLY=startup only the start-up figures, BENCH_ONLY=operations only windows, worker, drift and unused,
  // BENCH_ONLY=stdio (or http) only the figures over real stdio and over HTTP, BENCH_ONLY=audit only appends and verify,
  // BENCH_ONLY=deploy and BENCH_ONLY=overhead the deploy and the in-process call figures alone, BENCH_ONLY=stores the
  // SQLite and PostgreSQL stores with 4 processes racing.
  const only = process.env.BENCH_ONLY;
  const all = only === undefined;
  try {
    if (all || only === 'startup') await startupBench(out);
    if (only === 'startup') return;
    if (only === 'operations') return await operationsBench(inProcess, out);
    if (only === 'audit') return (appendsBench(out), verifyBench(out));
    if (only === 'stores') return await storesBench(out);
    if (only === 'deploy') return await deployBench();
    if (only === 'overhead') return await overhead();
    if (all || only === 'stdio' || only === 'http') {
      const wire = await stdioBench(out);
      await httpBench(out, wire);
    }
    if (only === 'stdio' || only === 'http') return;
    if (all) {
      await overhead();
      appendsBench(out);
      await storesBench(out);
      verifyBench(out);
      await deployBench();
      await operationsBench(inProcess, out);
    }
    // 10,000 is the figure, but moto's tag-filtered DescribeInstances takes > 30 s a page at that size;
    // BENCH_INSTANCES=10000 npm run bench runs it all the same.
    await manyInstances(Number(process.env.BENCH_INSTANCES ?? 2_000));
  } finally {
    await emulator.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
