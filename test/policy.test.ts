// policy.yaml validation: the shipped file is valid; every bad file names file:line:col and the field.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile, parsePolicy, PolicyError } from '../src/policy/load.js';
import { toolNames } from '../src/tools/index.js';

const good = readFileSync('policy.yaml', 'utf8');

function problems(text: string): string[] {
  try {
    parsePolicy(text, '/etc/warden/policy.yaml', toolNames);
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return (e as PolicyError).problems;
  }
  throw new Error('policy was accepted');
}

describe('policy', () => {
  it('accepts the shipped policy.yaml with defaults filled in', () => {
    const p = loadPolicyFile('policy.yaml', toolNames);
    expect(p.agents['web-bot']).toMatchObject({ project: 'shop', tier: 'operator', session_seconds: 3600 });
    expect(p.projects.billing.environments).toEqual(['staging', 'prod']);
    expect(p.projects.shop.critical_tag).toEqual({ Criticality: 'critical' });
  });

  it.each([
    [
      'an unknown tier, at the value',
      good.replace('tier: observer\n    role_arn', 'tier: admin\n    role_arn'),
      /^policy\.yaml:\d+:11 agents\.auditor\.tier: unknown tier "admin" \(known: observer, operator\)$/,
    ],
    [
      'an unknown project',
      good.replace('project: billing', 'project: payroll'),
      /agents\.billing-bot\.project: unknown project "payroll" \(known: shop, billing\)/,
    ],
    [
      'an unknown tool in a tier',
      good.replace(
        '[get_status, list_resources, get_budget, request_budget, get_proposal, get_job, find_unused_resources, check_drift]',
        '[get_status, delete_everything]',
      ),
      /:\d+:\d+ tiers\.observer\.tools\.1: unknown tool "delete_everything"/,
    ],
    ['a misspelt key', good.replace('budget_usd_month: 80', 'budget_usd_mnth: 80'), /projects\.billing\.budget_usd_mnth: Unrecognized key/],
    ['a missing budget', good.replace('    budget_usd_month: 80\n', '    {}\n'), /projects\.billing\.budget_usd_month: /],
    ['a negative budget', good.replace('budget_usd_month: 80', 'budget_usd_month: -5'), /projects\.billing\.budget_usd_month: .*>=0/],
    [
      'a role that is not an IAM role ARN',
      good.replace('role/warden-billing-bot', 'user/mallory'),
      /agents\.billing-bot\.role_arn: must be an IAM role ARN/,
    ],
    [
      'a deploy window for an unknown environment',
      good.replace('prod: [{ days: [tue, thu]', 'production: [{ days: [tue, thu]'),
      /projects\.shop\.windows\.production: unknown environment "production" \(known: staging, prod\)/,
    ],
    [
      'a window that ends where it starts',
      good.replace('start: "20:00", end: "23:00"', 'start: "20:00", end: "20:00"'),
      /projects\.shop\.windows\.prod\.0\.end: end equals start: an empty window/,
    ],
    [
      'worker checks run as an agent of another project',
      good.replace('      agent: web-bot\n      drift_check_hours', '      agent: billing-bot\n      drift_check_hours'),
      /projects\.shop\.operations\.agent: "billing-bot" is not an agent of project shop/,
    ],
    [
      'site buckets reclaimed without a human',
      good.replace('unattended: {}', 'unattended: { site_bucket: [staging] }'),
      /projects\.shop\.unused\.unattended\.site_bucket: /,
    ],
    [
      'a tier role for a tier that does not exist',
      good.replace(
        '    role_arn: arn:aws:iam::123456789012:role/warden-billing-bot',
        '    role_arn: arn:aws:iam::123456789012:role/warden-billing-bot\n    tier_roles: { maintainer: "arn:aws:iam::123456789012:role/wide" }',
      ),
      /agents\.billing-bot\.tier_roles\.maintainer: unknown tier "maintainer" \(known: observer, operator\)/,
    ],
    [
      'a tier role that is not a role ARN',
      good.replace(
        '    role_arn: arn:aws:iam::123456789012:role/warden-billing-bot',
        '    role_arn: arn:aws:iam::123456789012:role/warden-billing-bot\n    tier_roles: { operator: "arn:aws:iam::123456789012:user/mallory" }',
      ),
      /agents\.billing-bot\.tier_roles\.operator: must be an IAM role ARN/,
    ],
    [
      'a session longer than STS allows',
      good.replace(
        'tier: operator\n    role_arn: arn:aws:iam::123456789012:role/warden-billing-bot',
        'tier: operator\n    session_seconds: 99999\n    role_arn: arn:aws:iam::123456789012:role/warden-billing-bot',
      ),
      /agents\.billing-bot\.session_seconds/,
    ],
    [
      'a webhook that is not http(s)',
      good.replace('notify: []', 'notify: [{ webhook: "file:///etc/passwd" }]'),
      /projects\.shop\.notify\.0\.webhook/,
    ],
    [
      'an agent name that is not a name',
      good.replace('  auditor:\n', '  "Auditor Bot":\n'),
      /:\d+:3 agents\.Auditor Bot: invalid name "Auditor Bot": agent must be 2-40 chars/,
    ],
    ['a wrong version', good.replace('version: 1', 'version: 2'), /:\d+:\d+ version: /],
    ['a YAML syntax error', good.replace('projects:\n', 'projects:\n  - [\n'), /^policy\.yaml:\d+:\d+ /],
    [
      'a duplicate key',
      good.replace('  billing:\n    budget_usd_month: 80', '  billing:\n    budget_usd_month: 80\n    budget_usd_month: 90'),
      /policy\.yaml:\d+:\d+ .*[Uu]nique|duplicate/,
    ],
  ])('refuses %s, naming file:line:col and the field', (_what, text, pattern) => {
    const found = problems(text);
    expect(
      found.some((p) => pattern.test(p)),
      found.join('\n'),
    ).toBe(true);
  });

  it('points at the line of the offending value', () => {
    const text = good.replace('tier: observer\n    role_arn', 'tier: admin\n    role_arn');
    const line = text.split('\n').findIndex((l) => l.includes('tier: admin')) + 1;
    expect(problems(text)[0]).toMatch(new RegExp(`^policy\\.yaml:${line}:`));
  });

  it('reports a file it cannot read', () => {
    expect(() => loadPolicyFile('/nonexistent/policy.yaml', toolNames)).toThrow(/cannot read policy/);
  });
});
