#!/usr/bin/env node
// The aws-warden command: serve (MCP on stdio), worker (scheduled jobs), check-policy, demo.
import './quiet-sdk.js';
import { packageVersion } from '../core/version.js';
import { resolve } from 'node:path';
import { storeLocation } from './store-location.js';
import { PolicyError } from '../policy/errors.js';
import { TOOL_NAMES } from '../tools/names.js';
import { ExitError, parse, runMain, UsageError } from './run-main.js';
import { describePolicy } from './describe-policy.js';

const HELP = `Usage: aws-warden <command> [options]

Commands:
  serve          serve MCP on stdio for one agent (--http: over Streamable HTTP for every agent of the policy)
  worker         run due jobs: changes held for a deploy window, periodic drift and backup checks,
                 proposal expiry (--once: one pass, for cron)
  check-policy   validate a policy file and print what it grants per agent
  demo           start a local AWS emulator and run a scripted agent session against it
  --version, -V  print aws-warden's version

Options (serve):
  --agent ID     the agent this server acts for (env WARDEN_AGENT; not with --http)
  --http         serve every agent of the policy over HTTP at /mcp; each request's bearer token names its
                 agent (wardenctl agents token issue AGENT)
  --listen H:P   where --http listens (default 127.0.0.1:8787; another host than loopback needs
                 --allowed-hosts, the names a TLS proxy in front forwards)
  --allowed-hosts A,B    Host names a non-loopback --http server answers to
  --allowed-origins A,B  browser origins allowed to call --http (none by default)
  --policy FILE  policy file (env WARDEN_POLICY, default ./policy.yaml)
  --db FILE|URL  the store: an SQLite file, or postgres://USER:PASS@HOST/DB shared by many hosts
                 (env WARDEN_DB, default ./warden.db)

Options (worker):
  --once         one pass, then exit (exit 1 if a job failed)
  --interval S   seconds between passes (default 60)
  --policy FILE, --db FILE as for serve

Options (demo):
  --serve        serve MCP on stdio against the emulator instead of running the script
  --agent ID     agent for --serve (default web-bot)
  --keep-db FILE keep the demo's audit store in FILE

AWS: region, credentials and endpoint come from the standard AWS configuration
(AWS_REGION, AWS_PROFILE, the default credential chain, AWS_ENDPOINT_URL).

Examples:
  aws-warden serve --agent web-bot --policy ./policy.yaml
  aws-warden serve --http --listen 127.0.0.1:8787 --policy ./policy.yaml
  aws-warden check-policy policy.yaml
  aws-warden demo
`;

const list = (text: string | undefined) =>
  text
    ?.split(',')
    .map((x) => x.trim())
    .filter(Boolean);

async function serveOverHttp(values: Record<string, string | boolean | undefined>): Promise<void> {
  if (values.agent !== undefined) throw new UsageError('--agent is not for --http: each request names its agent by its bearer token');
  const { serveHttp, parseListen } = await import('../server/http.js');
  const listen = (values.listen as string | undefined) ?? '127.0.0.1:8787';
  try {
    parseListen(listen);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const served = await serveHttp({
    policyFile: resolve((values.policy as string | undefined) ?? (process.env.WARDEN_POLICY || 'policy.yaml')),
    dbFile: storeLocation(values.db as string | undefined),
    listen,
    allowedHosts: list(values['allowed-hosts'] as string | undefined),
    allowedOrigins: list(values['allowed-origins'] as string | undefined),
  });
  // A signal: admit nothing new, let running calls finish or roll back within the grace, then exit.
  const stop = () => void served.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

async function main(argv: string[]): Promise<number | void> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-V') {
    process.stdout.write(`aws-warden ${packageVersion()}\n`);
    return 0;
  }
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stderr.write(HELP);
    return command ? 0 : 2;
  }
  if (command === 'serve') {
    const { values } = parse(
      rest,
      {
        agent: { type: 'string' },
        policy: { type: 'string' },
        db: { type: 'string' },
        http: { type: 'boolean' },
        listen: { type: 'string' },
        'allowed-hosts': { type: 'string' },
        'allowed-origins': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      HELP,
    );
    if (values.help) return void process.stderr.write(HELP);
    if (values.http) return serveOverHttp(values);
    for (const flag of ['listen', 'allowed-hosts', 'allowed-origins'] as const)
      if (values[flag] !== undefined) throw new UsageError(`--${flag} is for --http`);
    const { serveStdio } = await import('../server/stdio.js');
    await serveStdio({
      agentId: values.agent ?? (process.env.WARDEN_AGENT || undefined),
      policyFile: resolve(values.policy ?? (process.env.WARDEN_POLICY || 'policy.yaml')),
      dbFile: storeLocation(values.db),
    });
    return;
  }
  if (command === 'worker') {
    const { values } = parse(
      rest,
      {
        once: { type: 'boolean' },
        interval: { type: 'string' },
        policy: { type: 'string' },
        db: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      HELP,
    );
    if (values.help) return void process.stdout.write(HELP);
    const interval = Number(values.interval ?? 60);
    if (!Number.isFinite(interval) || interval < 1) throw new UsageError(`--interval: expected seconds ≥ 1, got "${values.interval}"`);
    const { loadPolicyFile } = await import('../policy/load.js');
    const policy = loadPolicyFile(resolve(values.policy ?? (process.env.WARDEN_POLICY || 'policy.yaml')), TOOL_NAMES);
    const { Store } = await import('../store/store.js');
    const { runWorker } = await import('../worker/worker.js');
    const store = Store.open(storeLocation(values.db));
    try {
      const { failed } = await runWorker(store, policy, {
        once: Boolean(values.once),
        intervalSeconds: interval,
        log: (line) => process.stderr.write(`aws-warden worker: ${line}\n`),
      });
      return values.once && failed > 0 ? 1 : 0;
    } finally {
      store.close();
    }
  }
  if (command === 'check-policy') {
    const { values, positionals } = parse(rest, { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' } }, HELP, 1);
    if (values.help) return void process.stdout.write(HELP);
    const file = resolve(positionals[0] ?? (process.env.WARDEN_POLICY || 'policy.yaml'));
    const { loadPolicyFile } = await import('../policy/load.js');
    let policy;
    try {
      policy = loadPolicyFile(file, TOOL_NAMES);
    } catch (e) {
      // An invalid policy is what check-policy looks for: a finding, exit 1.
      if (e instanceof PolicyError) throw new ExitError(1, e.message);
      throw e;
    }
    process.stdout.write(values.json ? `${JSON.stringify(policy, null, 2)}\n` : describePolicy(policy, file));
    return 0;
  }
  if (command === 'demo') {
    const { values } = parse(
      rest,
      {
        serve: { type: 'boolean' },
        agent: { type: 'string' },
        'keep-db': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      HELP,
    );
    if (values.help) return void process.stdout.write(HELP);
    const { runDemo, serveDemo } = await import('../demo/demo.js');
    if (values.serve) return serveDemo({ agentId: values.agent ?? 'web-bot', dbFile: values['keep-db'] });
    return runDemo({ dbFile: values['keep-db'] });
  }
  throw new UsageError(`unknown command "${command}"\n\n${HELP}`);
}

runMain(() => main(process.argv.slice(2)));
