// Policy changes take effect: a running server re-reads its policy file when it changes. A demotion applies from the
// next call; a broken edit is reported and the last valid policy kept; an edit that takes the agent away refuses.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { buildServer } from '../src/server/build.js';
import { admin, call, world } from './helpers/harness.js';

async function served(yaml: string, agent: string) {
  const dir = mkdtempSync(join(tmpdir(), 'warden-reload-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, yaml);
  const built = buildServer({ agentId: agent, policyFile, dbFile: join(dir, 'w.db') });
  const client = new Client({ name: 't', version: '0' });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await Promise.all([client.connect(a), built.server.connect(b)]);
  const close = async () => {
    await client.close();
    await built.server.close();
    built.store.close();
  };
  return { client, store: built.store, rewrite: (text: string) => writeFileSync(policyFile, text), close };
}

type Status = { tier: string; policy: { sha256: string; problem: string | null } };

describe('policy reload', () => {
  it('a demotion written to the file applies to the very next call; each call names the policy it ran under', async () => {
    const w = world();
    const s = await served(w.yaml, w.agent);
    try {
      const arn = await launchTagged(admin.ec2(), { ProjectId: w.project, Name: 'reload' });
      const before = (await call(s.client, 'get_status', {})).structured as Status;
      expect(before.tier).toBe('operator');
      expect((await call(s.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'a' } })).isError).toBeFalsy();

      // The human demotes the agent in the file while the server runs.
      s.rewrite(
        w.yaml.replace(`${w.agent}: { project: ${w.project}, tier: operator`, `${w.agent}: { project: ${w.project}, tier: observer`),
      );
      const denied = await call(s.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'b' } });
      expect(denied.isError).toBe(true);
      expect(denied.text).toMatch(/denied by the tier rule/);
      const after = (await call(s.client, 'get_status', {})).structured as Status;
      expect(after.tier).toBe('observer');
      expect(after.policy.sha256).not.toBe(before.policy.sha256);
      expect(after.policy.problem).toBeNull();
      const hashes = s.store.audit
        .tail({ limit: 50 })
        .filter((r) => r.kind === 'requested' || r.kind === 'read')
        .map((r) => JSON.parse(r.decision as string).policy_sha256);
      expect(hashes).toEqual([before.policy.sha256, before.policy.sha256, after.policy.sha256, after.policy.sha256]);
    } finally {
      await s.close();
    }
  });

  it('a broken edit is reported loudly and in get_status; the last valid policy stays in force', async () => {
    const w = world();
    const s = await served(w.yaml, w.agent);
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const first = (await call(s.client, 'get_status', {})).structured as Status;
      s.rewrite(`${w.yaml}\nnot_a_field: true\n`);
      const after = (await call(s.client, 'get_status', {})).structured as Status;
      expect(after.tier).toBe('operator');
      expect(after.policy.sha256).toBe(first.policy.sha256);
      expect(after.policy.problem).toMatch(/the edited policy is not valid \(kept the last valid one\): .*not_a_field/);
      expect(errors.mock.calls.flat().join('\n')).toMatch(/changed but is not valid; keeping the last valid one/);
    } finally {
      errors.mockRestore();
      await s.close();
    }
  });

  it('an edit that removes the agent refuses every call on the record until a valid policy serves it again', async () => {
    const w = world();
    const s = await served(w.yaml, w.agent);
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      s.rewrite(w.yaml.replace(new RegExp(`  ${w.agent}: .*\\n`), ''));
      const r = await call(s.client, 'get_status', {});
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(/get_status refused: the policy now in force does not serve this agent/);
      expect(JSON.parse(s.store.audit.tail({ limit: 1 })[0].decision as string)).toMatchObject({ rule: 'policy' });
      s.rewrite(w.yaml);
      expect((await call(s.client, 'get_status', {})).isError).toBeFalsy();
    } finally {
      errors.mockRestore();
      await s.close();
    }
  });
});
