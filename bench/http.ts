// The same get_status over `aws-warden serve --http` (one process, a bearer token, a request per call) against the
// built serve on stdio measured just before: what the HTTP transport and the token check add.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../src/emulator/moto.js';
import { Store } from '../src/store/store.js';
import { ms, summarize } from './stats.js';
import { wirePolicy } from './stdio.js';

const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'aws-warden.js');

export async function httpBench(out: (s: string) => void, stdioStatusMedian: number, n = 300): Promise<void> {
  const { dir, policy } = wirePolicy('warden-bench-http-');
  const db = join(dir, 'w.db');
  const store = Store.open(db);
  const { token } = store.tokens.issue('wire-bot', 'bench', null);
  store.close();
  const child = spawn(process.execPath, [CLI, 'serve', '--http', '--listen', '127.0.0.1:0', '--policy', policy, '--db', db], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  while (!/over (http:\S+?);/.test(stderr)) {
    if (child.exitCode !== null) throw new Error(`serve --http exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = new URL((/over (http:\S+?);/.exec(stderr) as RegExpExecArray)[1]);
  try {
    for (const era of ['2026-07-28', '2025-11-25 handshake'] as const) {
      const client = new Client(
        { name: 'bench', version: '0' },
        era === '2026-07-28' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
      );
      await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
      const samples: number[] = [];
      for (let i = 0; i < 30; i++) await client.callTool({ name: 'get_status', arguments: {} });
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await client.callTool({ name: 'get_status', arguments: {} });
        samples.push(performance.now() - t);
      }
      await client.close();
      const s = summarize(samples);
      const more = s.median - stdioStatusMedian;
      out(
        `  get_status over HTTP (${era})   median ${ms(s.median)}  p99 ${ms(s.p99)} — stdio + ${ms(more)} (target ≤ 1 ms: ${more <= 1 ? 'met' : 'not met'})`,
      );
    }
  } finally {
    child.kill();
  }
}
