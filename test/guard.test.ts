// The guard's rules, table-driven: pure functions of (request, plan, facts).
import { describe, expect, it } from 'vitest';
import { decide, explain } from '../src/guard/decide.js';
import { reservedTagKeyProblem } from '../src/guard/reserved-tags.js';
import type { Facts, GuardRequest, Plan } from '../src/guard/types.js';

const req = (over: Partial<GuardRequest> = {}): GuardRequest => ({
  agent: 'web-bot',
  projectId: 'shop',
  project: {
    budget_usd_month: 100,
    escalate_over_usd_month: 20,
    critical_tag: { Criticality: 'critical' },
    environments: ['prod'],
    notify: [],
  } as unknown as GuardRequest['project'],
  tierName: 'operator',
  tier: { tools: ['tag_resource'], limits: { max_monthly_delta_usd: 30 }, escalate_tools: [] },
  tool: 'tag_resource',
  ...over,
});

const plan = (over: Partial<Plan> = {}): Plan => ({
  tool: 'tag_resource',
  summary: 'x',
  mutating: true,
  operations: [],
  resources: [{ arn: 'arn:aws:s3:::own', change: 'modify', tags: { ProjectId: 'shop' } }],
  tagsToSet: {},
  costDeltaUsdMonth: 0,
  riskFlags: [],
  rollback: [],
  params: {},
  ...over,
});

const ledger: Facts = { budget: { capCents: 10000, committedCents: 7000, reservedCents: 1000 } };

describe('decide', () => {
  it.each<[string, GuardRequest, Plan, Facts, string, string | undefined, RegExp | undefined]>([
    ['an owned resource, no cost', req(), plan(), ledger, 'allow', undefined, undefined],
    [
      'a tool outside the tier',
      req({ tool: 'scale_service' }),
      plan(),
      ledger,
      'deny',
      'tier',
      /not granted to tier "operator".*tools you may call: tag_resource/,
    ],
    [
      "another project's resource",
      req(),
      plan({ resources: [{ arn: 'arn:aws:s3:::b', change: 'modify', tags: { ProjectId: 'billing' } }] }),
      ledger,
      'deny',
      'ownership',
      /ProjectId is "billing", not "shop".*list_resources/,
    ],
    [
      'an untagged resource',
      req(),
      plan({ resources: [{ arn: 'arn:aws:s3:::b', change: 'modify', tags: {} }] }),
      ledger,
      'deny',
      'ownership',
      /ProjectId is missing/,
    ],
    [
      'a resource whose tags cannot be read',
      req(),
      plan({ resources: [{ arn: 'arn:aws:s3:::b', change: 'delete', tags: null, unreadableWhy: 'AccessDenied' }] }),
      ledger,
      'deny',
      'ownership',
      /cannot be read \(AccessDenied\)/,
    ],
    [
      'a case-spoofed owner tag',
      req(),
      plan({ resources: [{ arn: 'arn:aws:s3:::b', change: 'modify', tags: { projectid: 'shop' } }] }),
      ledger,
      'deny',
      'ownership',
      /ProjectId is missing/,
    ],
    [
      'a plan setting another ProjectId',
      req(),
      plan({ tagsToSet: { ProjectId: 'billing' } }),
      ledger,
      'deny',
      'ownership',
      /would set ProjectId="billing"/,
    ],
    ['a plan setting another AgentId', req(), plan({ tagsToSet: { AgentId: 'other' } }), ledger, 'deny', 'ownership', /AgentId/],
    [
      'a created resource (nothing to own yet)',
      req(),
      plan({
        resources: [{ arn: 'arn:aws:s3:::new', change: 'create', tags: null }],
        tagsToSet: { ProjectId: 'shop', AgentId: 'web-bot' },
      }),
      ledger,
      'allow',
      undefined,
      undefined,
    ],
    ['an unknown price', req(), plan({ costDeltaUsdMonth: null }), ledger, 'deny', 'budget', /unknown price/],
    [
      'spend with no ledger to check',
      req(),
      plan({ costDeltaUsdMonth: 1 }),
      { budget: null },
      'deny',
      'budget',
      /cannot confirm shop can afford/,
    ],
    [
      'spend over what is left',
      req(),
      plan({ costDeltaUsdMonth: 25 }),
      ledger,
      'deny',
      'budget',
      /shop has \$20\.00\/month left; x costs \$25\.00\/month.*request_budget/,
    ],
    [
      'spend over the tier cap',
      req(),
      plan({ costDeltaUsdMonth: 31 }),
      { budget: { capCents: 100000, committedCents: 0, reservedCents: 0 } },
      'deny',
      'budget',
      /at most \$30\.00/,
    ],
    ['spend that fits', req(), plan({ costDeltaUsdMonth: 19.99 }), ledger, 'allow', undefined, undefined],
    [
      'spend over the escalation threshold',
      req(),
      plan({ costDeltaUsdMonth: 20.01 }),
      { budget: { capCents: 10000, committedCents: 0, reservedCents: 0 } },
      'escalate',
      'escalation',
      /over the \$20\.00 a human must approve/,
    ],
    ['a saving (negative delta) with no ledger', req(), plan({ costDeltaUsdMonth: -5 }), { budget: null }, 'allow', undefined, undefined],
    [
      'a read-only plan with unknown price',
      req(),
      plan({ mutating: false, costDeltaUsdMonth: null }),
      ledger,
      'allow',
      undefined,
      undefined,
    ],
    [
      'a critical resource',
      req(),
      plan({ resources: [{ arn: 'arn:aws:s3:::own', change: 'modify', tags: { ProjectId: 'shop', Criticality: 'critical' } }] }),
      ledger,
      'escalate',
      'escalation',
      /tagged critical/,
    ],
    ['a security-group change', req(), plan({ riskFlags: ['security_group'] }), ledger, 'escalate', 'escalation', /risk: security group/],
    [
      'a tool the tier may call only with a human',
      req({ tier: { tools: ['tag_resource'], limits: {}, escalate_tools: ['tag_resource'] } }),
      plan(),
      ledger,
      'escalate',
      'escalation',
      /tier "operator" calls tag_resource only with a human's approval/,
    ],
    [
      'deny outranks escalate',
      req(),
      plan({ riskFlags: ['iam'], resources: [{ arn: 'arn:aws:s3:::b', change: 'modify', tags: { ProjectId: 'billing' } }] }),
      ledger,
      'deny',
      'ownership',
      undefined,
    ],
  ])('%s', (_what, r, p, f, outcome, rule, message) => {
    const d = decide(r, p, f);
    expect(d.outcome).toBe(outcome);
    if (d.outcome !== 'allow') {
      expect(d.rule).toBe(rule);
      if (message) expect(explain(d)).toMatch(message);
    } else expect(d.checked).toEqual(['tier', 'limits', 'ownership', 'budget', 'escalation']);
  });

  it('checks in the fixed order and stops at the first refusal', () => {
    const d = decide(req(), plan({ costDeltaUsdMonth: null, resources: [{ arn: 'a', change: 'modify', tags: null }] }), ledger);
    expect(d).toMatchObject({ outcome: 'deny', rule: 'ownership', checked: ['tier', 'limits', 'ownership'] });
  });
});

describe('reserved tag keys', () => {
  it.each(['ProjectId', 'projectid', 'PROJECTID', 'AgentId', 'ManagedBy', 'WardenEvent', 'aws:cloudformation:stack-name', 'AWS:x'])(
    'refuses %s',
    (k) => {
      expect(reservedTagKeyProblem(k)).toMatch(/reserved/);
    },
  );
  it.each(['Owner', 'Name', 'Project', 'cost-center'])('allows %s', (k) => {
    expect(reservedTagKeyProblem(k)).toBeNull();
  });
});
