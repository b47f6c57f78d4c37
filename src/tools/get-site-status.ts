// get_site_status: the live deployment of a site per environment, its health, soak state, and recent history.
import { z } from 'zod';
import { readPlan } from './read-plan.js';
import { defineTool, noParams } from './tool.js';

export const name = 'get_site_status';

const output = z.object({
  site: z.string(),
  environments: z.array(
    z.object({
      environment: z.string(),
      state: z.string(),
      deployment_id: z.string().nullable(),
      bucket: z.string().nullable(),
      files: z.number(),
      deployed_at: z.string().nullable(),
      healthy: z.boolean().nullable(),
      soak: z.object({ minutes_live: z.number(), soak_minutes: z.number(), done: z.boolean() }).nullable(),
    }),
  ),
  history: z.array(
    z.object({
      deployment_id: z.string(),
      environment: z.string(),
      state: z.string(),
      started_at: z.string(),
      finished_at: z.string().nullable(),
    }),
  ),
});

export const getSiteStatus = defineTool({
  name,
  title: 'Show a site',
  description:
    'Shows the live deployment of a site in each environment (bucket, files, health, how long staging has soaked before promote_site may copy it to prod) and its recent deployments.',
  input: z.object({ site: z.string().regex(/^[a-z0-9-]{3,40}$/, 'a short name: 3-40 of a-z, 0-9 and -') }).strict(),
  output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  iam: {},
  params: noParams,
  async plan() {
    return readPlan(name, 'read deployments', []);
  },
  async execute(_plan, args, { agent, ports }) {
    const now = ports.clock().getTime();
    const soakMinutes = agent.project.sites.soak_minutes;
    return {
      site: args.site,
      environments: agent.project.environments.map((environment) => {
        const d = ports.deployments.live(agent.projectId, args.site, environment);
        if (!d)
          return { environment, state: 'none', deployment_id: null, bucket: null, files: 0, deployed_at: null, healthy: null, soak: null };
        const health = JSON.parse(d.health) as { ok: boolean }[];
        const minutesLive = d.finished_at ? Math.floor((now - Date.parse(d.finished_at)) / 60_000) : 0;
        return {
          environment,
          state: d.state,
          deployment_id: d.id,
          bucket: d.bucket,
          files: Object.keys(JSON.parse(d.versions) as object).length,
          deployed_at: d.finished_at,
          healthy: health.every((h) => h.ok),
          soak: { minutes_live: minutesLive, soak_minutes: soakMinutes, done: minutesLive >= soakMinutes },
        };
      }),
      history: ports.deployments.history(agent.projectId, args.site).map((d) => ({
        deployment_id: d.id,
        environment: d.environment,
        state: d.state,
        started_at: d.started_at,
        finished_at: d.finished_at,
      })),
    };
  },
  summarize: (o) =>
    `${o.site}: ${o.environments.map((e) => `${e.environment} ${e.state}${e.files ? ` (${e.files} files)` : ''}`).join(', ')}`,
});
