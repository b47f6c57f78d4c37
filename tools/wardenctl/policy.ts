// Loads the policy for wardenctl commands that need caps or agents (--policy, WARDEN_POLICY, ./policy.yaml).
import { resolve } from 'node:path';
import { ExitError } from '../../src/cli/run-main.js';
import { loadPolicyFile, PolicyError } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/schema.js';
import { TOOL_NAMES } from '../../src/tools/names.js';

/** The policy file wardenctl reads: --policy, else WARDEN_POLICY, else ./policy.yaml. */
export const policyFile = (flag: string | undefined) => resolve(flag ?? (process.env.WARDEN_POLICY || 'policy.yaml'));

export function loadPolicy(flag: string | undefined): Policy {
  const file = policyFile(flag);
  try {
    return loadPolicyFile(file, TOOL_NAMES);
  } catch (e) {
    if (e instanceof PolicyError) throw new ExitError(2, e.message);
    throw e;
  }
}

export function projectsOf(policy: Policy, only: string | undefined): string[] {
  if (only === undefined) return Object.keys(policy.projects);
  if (!(only in policy.projects))
    throw new ExitError(2, `--project: unknown project "${only}" (known: ${Object.keys(policy.projects).join(', ')})`);
  return [only];
}
