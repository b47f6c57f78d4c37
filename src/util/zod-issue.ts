// One zod issue as a person reads it: the inner reason for a bad record key, not "Invalid key in record".
import type { z } from 'zod';

export function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_key' && issue.issues.length > 0)
    return `invalid name "${String(issue.path.at(-1) ?? '')}": ${issue.issues.map((i) => i.message).join('; ')}`;
  return issue.message;
}
