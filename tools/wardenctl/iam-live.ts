// wardenctl iam apply | check: the rendered roles against live IAM, with the operator's own credentials (a human's
// command: it writes IAM, which no agent may). Its own module, so `iam render` and `--help` never load the SDK client.
import { IAMClient } from '@aws-sdk/client-iam';
import { applyRoles, checkRole } from '../../src/iam/apply.js';
import type { RenderedRole } from '../../src/iam/render.js';

export async function applyOrCheck(verb: 'apply' | 'check', roles: RenderedRole[]): Promise<number> {
  const iam = new IAMClient({});
  if (verb === 'apply') {
    const done = await applyRoles(iam, roles);
    for (const d of done) process.stdout.write(`${d.action} ${d.role}\n`);
    return 0;
  }
  const drift = (await Promise.all(roles.map((r) => checkRole(iam, r)))).flat();
  process.stdout.write(drift.length ? `${drift.join('\n')}\n` : `no drift: ${roles.map((r) => r.roleName).join(', ')} match the policy\n`);
  return drift.length ? 1 : 0;
}
