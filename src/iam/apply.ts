// Creates or updates rendered roles through the IAM API, and compares live roles with what the policy renders.
import {
  CreateRoleCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
  type IAMClient,
} from '@aws-sdk/client-iam';
import { canonicalJson } from '../util/canonical.js';
import type { RenderedRole } from './render.js';

export const INLINE_POLICY = 'aws-warden';

const parseDoc = (doc: string | undefined) => (doc ? (JSON.parse(decodeURIComponent(doc)) as unknown) : null);

async function liveRole(iam: IAMClient, name: string): Promise<{ trust: unknown } | null> {
  try {
    const out = await iam.send(new GetRoleCommand({ RoleName: name }));
    return { trust: parseDoc(out.Role?.AssumeRolePolicyDocument) };
  } catch (e) {
    if (/NoSuchEntity/.test((e as Error).name)) return null;
    throw e;
  }
}

export async function applyRoles(iam: IAMClient, roles: RenderedRole[]): Promise<{ role: string; action: 'created' | 'updated' }[]> {
  const done: { role: string; action: 'created' | 'updated' }[] = [];
  for (const r of roles) {
    const live = await liveRole(iam, r.roleName);
    if (!live)
      await iam.send(
        new CreateRoleCommand({
          RoleName: r.roleName,
          AssumeRolePolicyDocument: JSON.stringify(r.trust),
          Tags: [{ Key: 'ManagedBy', Value: 'aws-warden' }],
        }),
      );
    else await iam.send(new UpdateAssumeRolePolicyCommand({ RoleName: r.roleName, PolicyDocument: JSON.stringify(r.trust) }));
    await iam.send(
      new PutRolePolicyCommand({ RoleName: r.roleName, PolicyName: INLINE_POLICY, PolicyDocument: JSON.stringify(r.permissions) }),
    );
    done.push({ role: r.roleName, action: live ? 'updated' : 'created' });
  }
  return done;
}

/** Differences between a live role and its rendering; an empty list means no drift. */
export async function checkRole(iam: IAMClient, r: RenderedRole): Promise<string[]> {
  const live = await liveRole(iam, r.roleName);
  if (!live) return [`role ${r.roleName} does not exist (wardenctl iam apply creates it)`];
  const drift: string[] = [];
  if (canonicalJson(live.trust) !== canonicalJson(r.trust)) drift.push(`${r.roleName}: trust policy differs from the rendered one`);
  let inline: unknown = null;
  try {
    inline = parseDoc((await iam.send(new GetRolePolicyCommand({ RoleName: r.roleName, PolicyName: INLINE_POLICY }))).PolicyDocument);
  } catch (e) {
    if (!/NoSuchEntity/.test((e as Error).name)) throw e;
  }
  if (inline === null) drift.push(`${r.roleName}: inline policy ${INLINE_POLICY} is missing`);
  else if (canonicalJson(inline) !== canonicalJson(r.permissions))
    drift.push(`${r.roleName}: permission policy ${INLINE_POLICY} differs from the rendered one`);
  return drift;
}

/** Refuses unless every role exists (wardenctl iam apply creates roles; a grant only adds to them). */
export async function assertRolesExist(iam: IAMClient, roles: RenderedRole[]): Promise<void> {
  for (const r of roles)
    if (!(await liveRole(iam, r.roleName))) throw new Error(`role ${r.roleName} does not exist; create it first with wardenctl iam apply`);
}

/** Puts each role's rendered permission policy, leaving its trust policy as the operator applied it. */
export async function applyPermissions(iam: IAMClient, roles: RenderedRole[]): Promise<void> {
  await assertRolesExist(iam, roles);
  for (const r of roles)
    await iam.send(
      new PutRolePolicyCommand({ RoleName: r.roleName, PolicyName: INLINE_POLICY, PolicyDocument: JSON.stringify(r.permissions) }),
    );
}
