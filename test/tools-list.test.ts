// What clients see in tools/list: a reviewed snapshot, every hint set explicitly, snake_case names, output schemas.
import { describe, expect, it } from 'vitest';
import { allTools } from '../src/tools/index.js';
import { TOOL_NAMES } from '../src/tools/names.js';
import { connect, world } from './helpers/harness.js';

describe('tools/list', () => {
  it('the names list that commands load without the tools is the registry, in order', () => {
    expect(TOOL_NAMES).toEqual(allTools.map((t) => t.name));
  });

  it('lists every registered tool', async () => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    const { tools } = await h.client.listTools();
    await h.close();
    expect(tools.map((t) => t.name).sort()).toEqual(allTools.map((t) => t.name).sort());
  });

  // One reviewed snapshot per tool, so adding a tool adds a file rather than rewriting a shared one.
  it.each(allTools.map((t) => t.name))('%s matches its reviewed snapshot (UPDATE: npx vitest run -u)', async (name) => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    const { tools } = await h.client.listTools();
    await h.close();
    await expect(
      JSON.stringify(
        tools.find((t) => t.name === name),
        null,
        2,
      ) + '\n',
    ).toMatchFileSnapshot(`__toolsnaps__/${name}.json`);
  });

  it.each(allTools.map((t) => [t.name, t] as const))('%s declares the IAM it needs', (_n, t) => {
    expect(t.iam, t.name).toBeDefined();
    // A tool that reaches AWS beyond the identity read needs at least one action in its role; one that does not, none.
    const actions = Object.values(t.iam).flat();
    const awsFree = ['get_status', 'get_budget', 'request_budget', 'request_permission', 'get_proposal', 'get_job', 'get_site_status'];
    if (awsFree.includes(t.name)) expect(actions, t.name).toEqual([]);
    else expect(actions.length, t.name).toBeGreaterThan(0);
  });

  it.each(allTools.map((t) => [t.name, t] as const))('%s sets all four hints, a title and both schemas', (_n, t) => {
    for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const)
      expect(typeof t.annotations[hint], hint).toBe('boolean');
    expect(t.title.length).toBeGreaterThan(3);
    expect(t.name).toMatch(/^[a-z]+(_[a-z]+)+$/);
    expect(t.name.length).toBeLessThanOrEqual(40); // room for a client prefix within 64
    expect(t.output).toBeDefined();
    if (t.annotations.readOnlyHint) expect(t.annotations.destructiveHint).toBe(false);
  });

  it('mutating tools take dry_run, read-only tools do not', async () => {
    const w = world();
    const h = await connect(w.policy, w.agent);
    const { tools } = await h.client.listTools();
    await h.close();
    for (const t of tools) {
      const props = Object.keys((t.inputSchema as { properties?: object }).properties ?? {});
      expect(props.includes('dry_run'), t.name).toBe(!t.annotations?.readOnlyHint);
      expect(t.outputSchema, t.name).toBeDefined();
    }
  });

  it('no tool takes an identity or ownership argument', async () => {
    for (const t of allTools) {
      const keys = Object.keys(t.input.shape);
      for (const forbidden of ['agent', 'agent_id', 'project', 'project_id', 'role', 'role_arn', 'tier', 'approve', 'approved'])
        expect(keys, `${t.name}.${forbidden}`).not.toContain(forbidden);
    }
  });
});
