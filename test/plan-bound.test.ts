// The AWS layer admits exactly the approved plan: for every registered tool, a plan missing one of the operations its
// executor sends, or naming another resource, gets that write refused before it leaves; read-only tools hold no write scope.
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { resourcesOfOp } from '../src/aws/permit.js';
import type { SentCommand } from '../src/aws/clients.js';
import { launchTagged } from '../src/demo/seed.js';
import type { Plan } from '../src/guard/types.js';
import { approveAndRun } from '../src/registry/approve.js';
import { allTools } from '../src/tools/index.js';
import { isMutating, type ToolSpec } from '../src/tools/tool.js';
import { admin, call, connect, type Harness, type ToolAnswer } from './helpers/harness.js';
import { SAMPLES, serviceWorld } from './helpers/samples.js';

const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

const APPROVER = '    approver_role_arn: "arn:aws:iam::123456789012:role/approver"';
const commandOf = (action: string) => action.split(':')[1];
/** What an operation may send: itself, and the API operations a plan action stands for (see src/aws/permit.ts). */
const family = (action: string) =>
  ({
    's3:PutObject': ['CreateMultipartUpload', 'UploadPart', 'CompleteMultipartUpload'],
    's3:DeleteObjectVersion': ['DeleteObject', 'DeleteObjects'],
  })[action] ?? [];

/** A world, a harness serving `spec` in place of the registered tool of its name, and the approver's sent commands. */
async function serving(spec: ToolSpec) {
  const w = await serviceWorld(APPROVER);
  const tools = allTools.map((t) => (t.name === spec.name ? spec : t));
  const h = await connect(w.policy, w.agent, { tools });
  open.push(h);
  const approverSent: SentCommand[] = [];
  const arn = await launchTagged(admin.ec2(), { ProjectId: w.project });
  /** Calls the tool; a proposal is approved by a human at once, through the same lifecycle. */
  const run = async (args: Record<string, unknown>): Promise<ToolAnswer> => {
    const r = await call(h.client, spec.name, args);
    if (r.structured?.status !== 'pending_approval') return r;
    try {
      const done = await approveAndRun(h.store, w.policy, r.structured.proposal_id as string, 'ann', null, {
        tools,
        observe: (c) => approverSent.push(c),
      });
      return { text: JSON.stringify(done.result), structured: done.result };
    } catch (e) {
      return { isError: true, text: (e as Error).message, structured: undefined };
    }
  };
  const writes = () => [...h.writes(), ...approverSent.filter((c) => c.mutating)];
  return { w, h, arn, run, writes, clear: () => ((h.sent.length = 0), (approverSent.length = 0)) };
}

const awsOps = (plan: Plan) => plan.operations.filter((o) => !o.action.startsWith('warden:'));
const mutating = allTools.filter(isMutating).map((t) => t.name);
/**
 * Tools whose role may write nothing to AWS (no IAM need but reads and database sign-in): a human's approval applies
 * their warden: actions in the store, or they sign a token locally. Nothing of theirs can reach the AWS layer's write gate.
 */
const writesNothing = allTools
  .filter((t) => !(['owned', 'create', 's3', 'scratch', 'scratch_db', 'approver'] as const).some((k) => t.iam[k]?.length))
  .map((t) => t.name);

describe('a write not in the approved plan is refused by the AWS layer', () => {
  it.each(mutating)('%s: the plan without one of its operations → that write is never sent', async (name) => {
    const real = allTools.find((t) => t.name === name) as ToolSpec;
    let removed = null as string | null;
    const spec: ToolSpec = {
      ...real,
      async plan(args, ctx) {
        const plan = await real.plan(args, ctx);
        removed ??= awsOps(plan)[0]?.action ?? null;
        // Gone from the plan altogether: neither a step nor a rollback step names it any more.
        return {
          ...plan,
          operations: plan.operations.filter((o) => o.action !== removed),
          rollback: plan.rollback.filter((o) => o.action !== removed),
        };
      },
    };
    const s = await serving(spec);
    const args = await SAMPLES[name](s.w, s.arn, s.h);
    s.clear();
    const r = await s.run(args);
    if (writesNothing.includes(name)) {
      // Nothing of it is an AWS write (a warden: action a human's approval applies, or a token signed locally).
      expect(s.writes()).toEqual([]);
      return;
    }
    expect(removed, 'the sample plans an AWS write').not.toBeNull();
    const refused = [commandOf(removed as string), ...family(removed as string)];
    expect(
      s
        .writes()
        .map((c) => c.command)
        .filter((c) => refused.includes(c)),
    ).toEqual([]);
    const trail = s.h.audit
      .tail({ limit: 40 })
      .map((e) => `${e.kind} ${e.result ?? ''}`)
      .join('\n');
    expect(`${r.text}\n${trail}`).toMatch(
      new RegExp(`${commandOf(removed as string)} refused by the AWS layer: .*not one of the operations of approved plan`),
    );
  });

  it.each(mutating.filter((n) => !writesNothing.includes(n)))(
    '%s: an operation on a resource the plan does not name → refused, not sent',
    async (name) => {
      const real = allTools.find((t) => t.name === name) as ToolSpec;
      let moved = null as string | null;
      const spec: ToolSpec = {
        ...real,
        async plan(args, ctx) {
          const plan = await real.plan(args, ctx);
          moved ??= awsOps(plan).find((o) => resourcesOfOp(o).length > 0 && o.action !== 'ec2:RunInstances')?.action ?? null;
          const elsewhere = (ops: Plan['operations']) =>
            ops.map((o) => (o.action === moved ? { ...o, target: 'not-in-this-plan', resources: ['not-in-this-plan'] } : o));
          return { ...plan, operations: elsewhere(plan.operations), rollback: elsewhere(plan.rollback) };
        },
      };
      const s = await serving(spec);
      let args = await SAMPLES[name](s.w, s.arn, s.h);
      if (name === 'scale_service') {
        // A launch acts on no existing resource; scaling back in terminates named instances, which is what is moved.
        expect((await s.run(args)).isError).toBeFalsy();
        args = { ...args, desired_count: 0 };
      }
      s.clear();
      const r = await s.run(args);
      expect(moved, 'the sample plans a write on a named resource').not.toBeNull();
      expect(s.writes().map((c) => c.command)).not.toContain(commandOf(moved as string));
      const trail = s.h.audit
        .tail({ limit: 40 })
        .map((e) => `${e.kind} ${e.result ?? ''}`)
        .join('\n');
      expect(`${r.text}\n${trail}`).toMatch(
        new RegExp(
          `${commandOf(moved as string)} refused by the AWS layer: \\S*${commandOf(moved as string)} on .*: not a resource of approved plan`,
        ),
      );
    },
  );
});

describe('read-only tools hold no write scope', () => {
  it.each(allTools.filter((t) => !isMutating(t)).map((t) => t.name))(
    '%s: a write its executor attempts is refused, nothing sent',
    async (name) => {
      const real = allTools.find((t) => t.name === name) as ToolSpec;
      const spec: ToolSpec = {
        ...real,
        async execute(plan, args, ctx) {
          // A bug (or worse) in a read tool: it tries to write before reading.
          await ctx.aws.ec2.send(
            new CreateTagsCommand({ Resources: [s.arn.split('/').pop() as string], Tags: [{ Key: 'x', Value: 'y' }] }),
          );
          return real.execute(plan, args, ctx);
        },
      };
      const s = await serving(spec);
      const args = await SAMPLES[name](s.w, s.arn, s.h);
      s.clear();
      const r = await s.run(args);
      expect(r.isError).toBe(true);
      expect(r.text).toMatch(/CreateTags refused by the AWS layer: no approved audit event/);
      expect(s.writes()).toEqual([]);
    },
  );
});
