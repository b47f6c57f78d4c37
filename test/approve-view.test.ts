// What the approver reads before saying yes: a security group's rules before and after as a diff, and a budget's cap
// before and after — in `wardenctl proposals show` and the approve prompt (the same view).
import { AuthorizeSecurityGroupIngressCommand } from '@aws-sdk/client-ec2';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from '../src/store/store.js';
import { ruleDiff } from '../tools/wardenctl/diff.js';
import { admin, call, connect, world } from './helpers/harness.js';
import { ownedGroup } from './helpers/samples.js';

const CTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');

async function setup() {
  const w = world();
  const dir = mkdtempSync(join(tmpdir(), 'warden-view-'));
  const db = join(dir, 'w.db');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, w.yaml);
  const store = Store.open(db);
  const h = await connect(w.policy, w.agent, { store });
  return { w, h, db, policy, store };
}

const show = (id: string, db: string, policy: string) =>
  spawnSync(process.execPath, [CTL, 'proposals', 'show', id, '--db', db, '--policy', policy], { encoding: 'utf8' });

describe('the approver sees the change', () => {
  it('a security-group proposal shows the rules before and after: kept, - removed, + added', async () => {
    const { w, h, db, policy } = await setup();
    const group = await ownedGroup(w.project);
    const rule = (port: number, cidr: string) => ({ IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: [{ CidrIp: cidr }] });
    await admin
      .ec2()
      .send(new AuthorizeSecurityGroupIngressCommand({ GroupId: group, IpPermissions: [rule(80, '10.0.0.0/8'), rule(22, '0.0.0.0/0')] }));
    const r = await call(h.client, 'propose_security_change', {
      security_group: group,
      add: [{ protocol: 'tcp', from_port: 443, to_port: 443, cidr: '0.0.0.0/0', description: 'public https' }],
      remove: [{ protocol: 'tcp', from_port: 22, to_port: 22, cidr: '0.0.0.0/0' }],
      reason: 'https in, ssh out',
    });
    const id = r.structured?.proposal_id as string;
    await h.close();
    const out = show(id, db, policy);
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toContain('rules     before → after (- removed, + added):');
    expect(out.stdout).toMatch(/^ {14}ingress tcp 80-80 10\.0\.0\.0\/8$/m);
    expect(out.stdout).toMatch(/^ {12}- ingress tcp 22-22 0\.0\.0\.0\/0$/m);
    expect(out.stdout).toMatch(/^ {12}\+ ingress tcp 443-443 0\.0\.0\.0\/0 \(public https\)$/m);
  });

  it('a budget request shows the cap before and after', async () => {
    const { h, db, policy } = await setup();
    const r = await call(h.client, 'request_budget', { amount_usd_month: 50, reason: 'winter sale', duration: 'this_month' });
    await h.close();
    const out = show(r.structured?.proposal_id as string, db, policy);
    expect(out.stdout).toMatch(/budget {4}cap \$100\.00\/month → \$150\.00\/month, this month \(\d{4}-\d{2}\)/);
  });

  it('a description with a terminal escape is shown inert in the diff', () => {
    const lines = ruleDiff(
      [{ direction: 'ingress', protocol: 'tcp', from_port: 1, to_port: 1, cidr: '1.2.3.4/32', description: 'ok\u001b[2Jgone' }],
      [],
    );
    expect(lines.join('\n')).not.toContain('\u001b');
  });
});
