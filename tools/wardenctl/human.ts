// Who a human acting through wardenctl is: their OS user, or --as NAME when the policy's approval.allow_as names it.
import { userInfo } from 'node:os';
import { UsageError } from '../../src/cli/run-main.js';
import { loadPolicy } from './policy.js';

/** The name every row a human writes carries; an --as the policy does not allow is a usage error, never a silent rename. */
export function actingHuman(as: string | undefined, policyFile: string | undefined): string {
  const osUser = userInfo().username;
  if (as === undefined) return osUser;
  const allowed = loadPolicy(policyFile).approval.allow_as;
  if (!allowed.includes(as))
    throw new UsageError(
      `--as ${as}: the policy's approval.allow_as does not name it (names: ${allowed.join(', ') || 'none'}); you act as ${osUser}`,
    );
  return as;
}
