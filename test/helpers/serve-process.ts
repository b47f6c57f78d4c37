// The built `aws-warden serve` as a child process behind a plain pipe transport any SDK client can use. Unlike the
// SDK's stdio client transport, closing it only ends the server's stdin (a client that leaves), never kills it: the
// test waits for the server to exit on its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

import { CLI } from './served.js';

export { CLI };

type Message = Record<string, unknown>;

export class PipeTransport {
  onmessage?: (message: never) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private closed = false;

  constructor(private readonly child: ChildProcess) {}

  async start(): Promise<void> {
    const lines = createInterface({ input: this.child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      try {
        this.onmessage?.(JSON.parse(line) as never);
      } catch (e) {
        this.onerror?.(e as Error);
      }
    });
    this.child.once('exit', () => this.finish());
  }

  async send(message: Message): Promise<void> {
    if (this.closed) throw new Error('the server has gone');
    this.child.stdin?.write(`${JSON.stringify(message)}\n`);
  }

  /** The client leaves: the server's stdin ends, nothing else. */
  async close(): Promise<void> {
    this.child.stdin?.end();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}

export interface ServeProcess {
  transport: PipeTransport;
  child: ChildProcess;
  stderr: () => string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

export function spawnServe(args: { agent: string; policyFile: string; dbFile: string }): ServeProcess {
  const child = spawn(process.execPath, [CLI, 'serve', '--agent', args.agent, '--policy', args.policyFile, '--db', args.dbFile], {
    env: process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { transport: new PipeTransport(child), child, stderr: () => stderr, exited };
}

/** `aws-warden serve --http` on a free loopback port: the process and the /mcp URL it printed once listening. */
export async function spawnHttpServe(
  policyFile: string,
  dbFile: string,
): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--http', '--listen', '127.0.0.1:0', '--policy', policyFile, '--db', dbFile], {
    env: process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!/over (http:\S+?);/.test(stderr)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve --http did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url: (/over (http:\S+?);/.exec(stderr) as RegExpExecArray)[1], stderr: () => stderr };
}
