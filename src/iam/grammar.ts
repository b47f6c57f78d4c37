// IAM policy grammar as a zod schema, so every rendered document is checked before anyone reviews or applies it.
import { z } from 'zod';

const strings = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const ACTION = /^(\*|[a-z0-9-]+:[A-Za-z0-9*]+)$/;
const actions = z.union([z.string().regex(ACTION), z.array(z.string().regex(ACTION)).min(1)]);
const OPERATOR =
  /^(ForAnyValue:|ForAllValues:)?(StringEquals|StringNotEquals|StringLike|StringNotLike|ArnLike|ArnEquals|Bool|Null|NumericLessThan)(IfExists)?$/;

const statement = z
  .object({
    Sid: z
      .string()
      .regex(/^[A-Za-z0-9]+$/)
      .optional(),
    Effect: z.enum(['Allow', 'Deny']),
    Principal: z.union([z.literal('*'), z.object({ AWS: strings, Service: strings, Federated: strings }).partial().strict()]).optional(),
    Action: actions.optional(),
    NotAction: actions.optional(),
    Resource: strings.optional(),
    NotResource: strings.optional(),
    Condition: z
      .record(z.string().regex(OPERATOR, 'an IAM condition operator'), z.record(z.string().min(1), z.union([strings, z.boolean()])))
      .optional(),
  })
  .strict()
  .refine((s) => Boolean(s.Action) !== Boolean(s.NotAction), 'exactly one of Action and NotAction')
  .refine((s) => !(s.Resource && s.NotResource), 'at most one of Resource and NotResource');

export const policyDocument = z.object({ Version: z.literal('2012-10-17'), Statement: z.array(statement).min(1) }).strict();
export type PolicyDocument = z.infer<typeof policyDocument>;
export type Statement = z.infer<typeof statement>;
