// wardenctl iam render | apply | check: the IAM roles the policy implies — printed, created/updated, or compared with the live ones.
import { ExitError, parse, UsageError } from '../../src/cli/run-main.js';
import type { RenderedRole } from '../../src/iam/render.js';
import { HELP, printHelp } from './help.js';
import { loadPolicy, projectsOf } from './policy.js';

export async function iamCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === '--help' || verb === '-h') return printHelp(HELP.iam);
  if (!['render', 'apply', 'check'].includes(verb ?? ''))
    throw new UsageError(`wardenctl iam: expected render, apply or check${verb ? `, got "${verb}"` : ''}\n\n${HELP.iam}`);
  const { values } = parse(
    rest,
    {
      agent: { type: 'string' },
      project: { type: 'string' },
      anchors: { type: 'boolean' },
      format: { type: 'string' },
      principal: { type: 'string' },
      policy: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    HELP.iam,
  );
  if (values.help) return printHelp(HELP.iam);
  if (values.json && values.format && values.format !== 'json') throw new UsageError(`--json and --format ${values.format} disagree`);
  const format = values.format ?? 'json';
  if (!['json', 'cloudformation'].includes(format)) throw new UsageError(`--format: expected json or cloudformation, got "${format}"`);
  if ([values.agent, values.project, values.anchors].filter(Boolean).length !== 1)
    throw new UsageError('wardenctl iam render: give exactly one of --agent A, --project P and --anchors');
  if (values.principal !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:(root|role\/.+|user\/.+)$/.test(values.principal))
    throw new UsageError(`--principal: expected the IAM ARN the warden runs as, got "${values.principal}"`);
  const policy = loadPolicy(values.policy);
  // Rendering reads every tool's IAM needs (and so loads the tools): only once the arguments are good.
  const { cloudFormation, renderAgentRoles, renderAnchorRole, renderApproverRole } = await import('../../src/iam/render.js');
  const principalFor = (roleArn: string) => values.principal ?? `arn:aws:iam::${roleArn.split(':')[4]}:root`;
  let roles: RenderedRole[];
  if (values.anchors) {
    if (!policy.anchors) throw new ExitError(2, '--anchors: the policy names no anchors (anchors: { bucket, role_arn })');
    roles = [renderAnchorRole(policy, principalFor(policy.anchors.role_arn)) as RenderedRole];
  } else if (values.agent) {
    if (!(values.agent in policy.agents))
      throw new ExitError(2, `--agent: unknown agent "${values.agent}" (known: ${Object.keys(policy.agents).join(', ')})`);
    roles = renderAgentRoles(policy, values.agent, principalFor(policy.agents[values.agent].role_arn));
  } else {
    const [project] = projectsOf(policy, values.project);
    const agents = Object.entries(policy.agents).filter(([, a]) => a.project === project);
    roles = agents.flatMap(([id, a]) => renderAgentRoles(policy, id, principalFor(a.role_arn)));
    const approver = policy.projects[project].approver_role_arn;
    if (approver) roles.push(renderApproverRole(policy, project, principalFor(approver)) as RenderedRole);
  }
  // apply and check talk to IAM with the operator's own credentials: the SDK is loaded for them only.
  if (verb === 'apply' || verb === 'check') return (await import('./iam-live.js')).applyOrCheck(verb, roles);
  const out = format === 'cloudformation' ? cloudFormation(roles) : roles.length === 1 ? roles[0] : roles;
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}
