// Commands that need no AWS do not load the AWS SDK: --help, --version, audit, proposals list/show, status, trust,
// schedule list, check-policy. A loader hook records every @aws-sdk/@smithy import of the spawned process.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { until } from './helpers/served.js';

const WARDENCTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');
const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'aws-warden.js');
const HOOK = join(process.cwd(), 'test', 'fixtures', 'trace-aws-imports.mjs');
const db = join(mkdtempSync(join(tmpdir(), 'warden-fast-')), 'w.db');

/** Runs a command under the hook; the AWS modules it imported. */
function awsImports(bin: string, args: string[]): Promise<{ status: number | null; imported: string[] }> {
  const trace = join(mkdtempSync(join(tmpdir(), 'warden-trace-')), 'imports.txt');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', HOOK, bin, ...args], {
      env: { ...process.env, WARDEN_IMPORT_TRACE: trace, WARDEN_DB: db },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (status) => {
      if (status !== 0 && status !== 2) reject(new Error(`${args.join(' ')} exited ${status}: ${stderr}`));
      resolve({ status, imported: existsSync(trace) ? readFileSync(trace, 'utf8').split('\n').filter(Boolean) : [] });
    });
  });
}

const COMMANDS: [string, string, string[]][] = [
  ['wardenctl', WARDENCTL, ['--help']],
  ['wardenctl', WARDENCTL, ['--version']],
  ['wardenctl', WARDENCTL, ['audit', 'tail']],
  ['wardenctl', WARDENCTL, ['audit', 'verify']],
  ['wardenctl', WARDENCTL, ['audit', 'export']],
  ['wardenctl', WARDENCTL, ['proposals', 'list']],
  ['wardenctl', WARDENCTL, ['proposals', 'show', 'prop_000000000000']],
  ['wardenctl', WARDENCTL, ['status']],
  ['wardenctl', WARDENCTL, ['trust']],
  ['wardenctl', WARDENCTL, ['schedule', 'list']],
  ['wardenctl', WARDENCTL, ['agents', 'token', 'list']],
  ['aws-warden', CLI, ['--help']],
  ['aws-warden', CLI, ['--version']],
  ['aws-warden', CLI, ['check-policy', 'policy.yaml']],
];
const NO_AWS = COMMANDS.map(([name, bin, args]) => [`${name} ${args.join(' ')}`, bin, args] as const);

describe('fast start', () => {
  it.each(NO_AWS)(
    '%s loads no AWS SDK module',
    async (_name, bin, args) => {
      const { imported } = await awsImports(bin, [...args]);
      expect(imported).toEqual([]);
    },
    60_000,
  );

  it('aws-warden serve answers the MCP initialize request before it loads the tools and the AWS SDK', async () => {
    const trace = join(mkdtempSync(join(tmpdir(), 'warden-trace-')), 'imports.txt');
    const child = spawn(process.execPath, ['--import', HOOK, CLI, 'serve', '--agent', 'web-bot', '--policy', 'policy.yaml'], {
      env: { ...process.env, WARDEN_IMPORT_TRACE: trace, WARDEN_DB: db },
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } })}\n`,
    );
    await until('the initialize answer', () => stdout.includes('\n'), 30_000);
    const answer = JSON.parse(stdout.split('\n')[0]) as { result?: { serverInfo?: { name: string }; capabilities?: object } };
    expect(answer.result?.serverInfo?.name).toBe('aws-warden');
    expect(answer.result?.capabilities).toHaveProperty('tools');
    child.stdin.end();
    await exited;
    expect(existsSync(trace) ? readFileSync(trace, 'utf8') : '').toBe('');
  }, 60_000);

  it('the hook does see the SDK where a command needs it (wardenctl iam render)', async () => {
    const { imported } = await awsImports(WARDENCTL, ['iam', 'render', '--project', 'shop']);
    expect(imported.some((s) => s.startsWith('@aws-sdk/'))).toBe(true);
  }, 60_000);
});
