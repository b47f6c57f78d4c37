// Bounded time: an endpoint that accepts connections and never answers (a hung AWS) gets an error within the bounds,
// from the agent's clients and from STS alike, instead of a call that hangs while it holds a lock and a reservation.
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentAws } from '../src/aws/clients.js';
import { AgentSession } from '../src/aws/session.js';
import { DEFAULT_TIMEOUTS } from '../src/aws/timeouts.js';
import { anyImageId } from '../src/demo/seed.js';
import { admin, call, connect, liveInstances, world } from './helpers/harness.js';

let hung: Server;
let endpoint = '';
const sockets: Socket[] = [];
beforeAll(async () => {
  hung = createServer((s) => sockets.push(s)); // reads nothing, answers nothing
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(hung.address() as { port: number }).port}`;
});
afterAll(() => {
  sockets.forEach((s) => s.destroy());
  hung.close();
});

describe('a hung endpoint', () => {
  it('an agent client gives up within its request bound and retry budget', { timeout: 60_000 }, async () => {
    const saved = process.env.AWS_ENDPOINT_URL_EC2;
    process.env.AWS_ENDPOINT_URL_EC2 = endpoint;
    try {
      const session = new AgentSession({
        agentId: 'bot',
        projectId: 'p',
        roleArn: 'arn:aws:iam::123456789012:role/bot',
        sessionSeconds: 900,
      });
      const aws = new AgentAws(session, () => false, undefined, { ...DEFAULT_TIMEOUTS, requestMs: 500, maxAttempts: 2 });
      const started = Date.now();
      const err = await aws.ec2.send(new DescribeInstancesCommand({})).catch((e: Error) => e);
      const took = Date.now() - started;
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toMatch(/TimeoutError|RequestTimeout/);
      // Two attempts of 0.5 s and the SDK's backoff between them: well under the 30 s an unbounded call would wait.
      expect(took).toBeLessThan(10_000);
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_EC2;
      else process.env.AWS_ENDPOINT_URL_EC2 = saved;
    }
  });

  it(
    'STS too: assuming the agent role against a hung endpoint is refused in bounded time, with the reason',
    { timeout: 60_000 },
    async () => {
      const saved = process.env.AWS_ENDPOINT_URL_STS;
      process.env.AWS_ENDPOINT_URL_STS = endpoint;
      try {
        const { fromEnv } = await import('@aws-sdk/credential-providers');
        const session = new AgentSession(
          { agentId: 'bot', projectId: 'p', roleArn: 'arn:aws:iam::123456789012:role/bot', sessionSeconds: 900 },
          fromEnv(),
          Date.now,
          { ...DEFAULT_TIMEOUTS, requestMs: 500, maxAttempts: 2 },
        );
        const started = Date.now();
        await expect(session.credentials()).rejects.toThrow(
          /cannot reach AWS STS to assume arn:aws:iam::123456789012:role\/bot \(.*Timeout.*an AWS outage or a network problem, not a problem with the role/,
        );
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_STS;
        else process.env.AWS_ENDPOINT_URL_STS = saved;
      }
    },
  );

  it(
    'a whole call stops at the policy deadline, long before the request bounds would give up, naming the service',
    { timeout: 60_000 },
    async () => {
      const w = world({
        projectYaml: '    services: { web: { image_id: ami-12345678, instance_types: [t3.micro], max: 2 } }',
        topYaml: 'call_deadline_seconds: 2',
      });
      const saved = process.env.AWS_ENDPOINT_URL_EC2;
      process.env.AWS_ENDPOINT_URL_EC2 = endpoint;
      const h = await connect(w.policy, w.agent);
      try {
        const started = Date.now();
        const r = await call(h.client, 'get_service', { service: 'web' });
        const took = Date.now() - started;
        expect(r.isError).toBe(true);
        expect(r.text).toMatch(
          /stopped at its deadline of 2 s \(call_deadline_seconds\) during ec2:DescribeInstances: AWS did not answer in time/,
        );
        // The request bounds alone (30 s × 3 attempts) would have held it for over a minute.
        expect(took).toBeLessThan(15_000);
        expect(h.store.audit.tail({ limit: 1 })[0].kind).toBe('failed');
      } finally {
        await h.close();
        if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_EC2;
        else process.env.AWS_ENDPOINT_URL_EC2 = saved;
      }
    },
  );

  it('a scale that reaches its deadline in the health wait terminates what it launched and says so', { timeout: 60_000 }, async () => {
    const w = world({
      projectYaml: `    services: { web: { image_id: ${await anyImageId(admin.ec2())}, instance_types: [t3.micro], max: 2, health: { timeout_seconds: 120, poll_seconds: 0.5, http_url: "${endpoint}/{instance_id}" } } }`,
      topYaml: 'call_deadline_seconds: 3',
    });
    const h = await connect(w.policy, w.agent);
    try {
      const r = await call(h.client, 'scale_service', { service: 'web', desired_count: 1 });
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(/reached its deadline \(call_deadline_seconds\) before the launch was healthy; rolled back: terminated i-/);
      const kinds = h.store.audit.tail({ limit: 3 }).map((e) => e.kind);
      expect(kinds).toEqual(['approved', 'executed', 'rolled_back']);
      expect(await liveInstances(w.project)).toEqual([]);
    } finally {
      await h.close();
    }
  });
});
