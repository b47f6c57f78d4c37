// `aws-warden serve` as a child process spoken to in raw JSON-RPC lines, for tests that signal, kill or starve it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';

export const CLI = join(process.cwd(), 'dist', 'src', 'cli', 'aws-warden.js');
const WARDENCTL = join(process.cwd(), 'dist', 'tools', 'wardenctl', 'main.js');

export interface Answer {
  id?: number;
  result?: { isError?: boolean; content?: { text: string }[]; structuredContent?: Record<string, unknown> };
}

/** Waits for a condition (never for a clock alone), polling. */
export async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits for a probe to give a value (never for a clock alone), polling; returns the value. */
export async function untilValue<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Served {
  child: ChildProcessWithoutNullStreams;
  answers: Answer[];
  send(m: object): void;
  /** Sends tools/call with this id. */
  callTool(id: number, name: string, args: Record<string, unknown>): void;
  exited: Promise<number | null>;
  stderr(): string;
  /** Closes stdin (a graceful stop) and waits for the process to exit. */
  stop(): Promise<number | null>;
}

/** Starts a server for `agent` and completes the MCP handshake. */
export async function serve(policyFile: string, dbFile: string, agent: string): Promise<Served> {
  const child = spawn(process.execPath, [
    CLI,
    'serve',
    '--policy',
    policyFile,
    '--db',
    dbFile,
    '--agent',
    agent,
  ]) as ChildProcessWithoutNullStreams;
  const answers: Answer[] = [];
  let buffered = '';
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
      answers.push(JSON.parse(buffered.slice(0, i)));
      buffered = buffered.slice(i + 1);
    }
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const send = (m: object) => child.stdin.write(`${JSON.stringify(m)}\n`);
  send({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } },
  });
  await until('initialize', () => answers.some((a) => a.id === 1));
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return {
    child,
    answers,
    send,
    callTool: (id, name, args) => send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }),
    exited,
    stderr: () => stderr,
    stop: () => {
      child.stdin.end();
      return exited;
    },
  };
}

/** `wardenctl proposals approve ID --yes --as ops-team`, killed -9 as soon as `reached` holds (a crash between approval and outcome). */
export async function approveKilledWhen(
  id: string,
  dbFile: string,
  policyFile: string,
  what: string,
  reached: () => boolean | Promise<boolean>,
): Promise<void> {
  const ctl = spawn(
    process.execPath,
    [WARDENCTL, 'proposals', 'approve', id, '--yes', '--as', 'ops-team', '--db', dbFile, '--policy', policyFile],
    {
      stdio: 'ignore',
    },
  );
  const exited = new Promise((r) => ctl.once('exit', r));
  await until(what, reached);
  ctl.kill('SIGKILL');
  await exited;
}
