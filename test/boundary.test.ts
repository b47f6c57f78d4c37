// Boundary leaks an adversarial agent tries: a call of a tool that does not exist, and names that are property paths
// of a plain object. Each fails closed, with a clear error and an audit row.
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { launchTagged } from '../src/demo/seed.js';
import { admin, call, connect, type Harness } from './helpers/harness.js';
import { serviceWorld, SITE } from './helpers/samples.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

async function setup() {
  const w = await serviceWorld();
  const h = await connect(w.policy, w.agent);
  open.push(h);
  return { w, h };
}

describe('a tool that does not exist', () => {
  it('is a JSON-RPC -32602 error and a denied row; a long name is clipped in the row', async () => {
    const { w, h } = await setup();
    const err = await h.client.callTool({ name: 'delete_everything', arguments: { all: true } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).code).toBe(-32602);
    expect((err as McpError).message).toMatch(/unknown tool "delete_everything"; tools you may call: get_status, /);
    const [row] = h.audit.tail({ limit: 1 });
    expect(row).toMatchObject({ kind: 'denied', agent: w.agent, project: w.project, tool: 'delete_everything' });
    expect(JSON.parse(row.decision ?? '{}')).toMatchObject({ outcome: 'deny', rule: 'unknown_tool' });
    await h.client.callTool({ name: 'x'.repeat(10_000), arguments: {} }).catch(() => undefined);
    const [long] = h.audit.tail({ limit: 1 });
    expect(long.tool).toHaveLength(64);
    expect(JSON.parse(long.decision ?? '{}')).toMatchObject({ name_length: 10_000 });
    expect(h.sent).toEqual([]);
  });
});

describe('names are data, not property paths', () => {
  const NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
  const CALLS: [string, (n: string) => Record<string, unknown>, RegExp][] = [
    ['get_service', (n) => ({ service: n }), /service/],
    ['scale_service', (n) => ({ service: n, desired_count: 1 }), /service/],
    ['scale_service', (n) => ({ service: n, desired_count: 0, dry_run: true }), /service/],
    ['deploy_static_site', (n) => ({ site: 'shop', source_dir: SITE, environment: n }), /environment/],
    ['deploy_static_site', (n) => ({ site: 'shop', source_dir: SITE, environment: n, dry_run: true }), /environment/],
  ];
  it.each(NAMES)('%s: refused where a name is taken, naming the field, with a denied row and no AWS write', async (name) => {
    const { h } = await setup();
    for (const [tool, args, field] of CALLS) {
      const r = await call(h.client, tool, args(name));
      expect(r.isError, `${tool} ${name}: ${r.text}`).toBe(true);
      expect(r.text, tool).toMatch(field);
      expect(r.text, tool).not.toMatch(/TypeError|internal error|an AWS call failed/);
      const [row] = h.audit.tail({ limit: 1 });
      expect(row.kind, `${tool} ${name}`).toBe('denied');
    }
    expect(h.writes()).toEqual([]);
  });

  it('a policy whose names are those words works as any other', async () => {
    const { parsePolicy } = await import('../src/policy/load.js');
    const { toolNames } = await import('../src/tools/index.js');
    const policy = parsePolicy(
      `version: 1
projects: { constructor: { budget_usd_month: 10, environments: [valueof] } }
tiers: { tostring: { tools: [get_status] } }
agents: { constructor: { project: constructor, tier: tostring, role_arn: "arn:aws:iam::123456789012:role/constructor" } }
`,
      'policy.yaml',
      toolNames,
    );
    expect(Object.getPrototypeOf(policy.projects)).toBeNull();
    const h = await connect(policy, 'constructor');
    open.push(h);
    const r = await call(h.client, 'get_status', {});
    expect(r.structured).toMatchObject({ agent: 'constructor', project: 'constructor', tier: 'tostring', environments: ['valueof'] });
  });
});

describe('no disclosure through refusals', () => {
  it('a dry run the ownership rule refuses shows nothing of the other project’s resource; the audit keeps it', async () => {
    const { w, h } = await setup();
    const { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand } = await import('@aws-sdk/client-ec2');
    const sg = (
      await admin.ec2().send(
        new CreateSecurityGroupCommand({
          GroupName: `theirs-${w.other}`,
          Description: 'billing db',
          TagSpecifications: [
            {
              ResourceType: 'security-group',
              Tags: [
                { Key: 'ProjectId', Value: w.other },
                { Key: 'Secret', Value: 'vault-token-7f3a' },
              ],
            },
          ],
        }),
      )
    ).GroupId as string;
    await admin.ec2().send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: sg,
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, IpRanges: [{ CidrIp: '10.9.8.0/24', Description: 'payroll-replica' }] },
        ],
      }),
    );
    const probe = await call(h.client, 'propose_security_change', {
      security_group: sg,
      add: [{ protocol: 'tcp', from_port: 443, to_port: 443, cidr: '0.0.0.0/0' }],
      reason: 'just looking, honestly',
      dry_run: true,
    });
    expect(probe.isError).toBe(true);
    expect(probe.text).toMatch(
      new RegExp(`denied by the ownership rule: .*security-group/${sg}: ProjectId is "${w.other}", not "${w.project}"`),
    );
    const shown = `${probe.text}${JSON.stringify(probe.structured ?? {})}`;
    for (const secret of ['payroll-replica', '10.9.8.0/24', '5432', 'vault-token-7f3a', 'billing db'])
      expect(shown, secret).not.toContain(secret);
    const [row] = h.audit.tail({ limit: 1 });
    expect(row.kind).toBe('planned');
    expect(row.request).toContain('payroll-replica');
    const arn = await launchTagged(admin.ec2(), { ProjectId: w.other, Secret: 'vault-token-7f3a' });
    const tag = await call(h.client, 'tag_resource', { resource_arn: arn, set: { Owner: 'me' }, dry_run: true });
    expect(tag.isError).toBe(true);
    expect(`${tag.text}${JSON.stringify(tag.structured ?? {})}`).not.toContain('vault-token-7f3a');
    expect(h.writes()).toEqual([]);
  });
});
