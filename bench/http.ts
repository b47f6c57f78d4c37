// The same get_status and list_resources over `aws-warden serve --http` (one process, a bearer token, a request per call) against the
// built serve on stdio measured just before: what the HTTP transport and the token check add.
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../src/emulator/moto.js';
import { Store } from '../src/store/store.js';
import { ms, summarize } from './stats.js';
import { leanWireBench } from './lean-wire.js';
import { WARM_UP, wirePolicy } from './stdio.js';

const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'aws-warden.js');

export async function httpBench(
  out: (s: string) => void,
  stdio: { statusMedian: number; pingMedian: number; listMedian: number },
  n = 300,
): Promise<void> {
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
    for (const era of ['2025-11-25 handshake', '2026-07-28'] as const) {
      const client = new Client(
        { name: 'bench', version: '0' },
        era === '2026-07-28' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {},
      );
      await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
      const samples: number[] = [];
      const pings: number[] = [];
      const lists: number[] = [];
      for (let i = 0; i < WARM_UP; i++) await client.callTool({ name: 'get_status', arguments: {} });
      // Alternating with an MCP ping over the same HTTP endpoint: the transport's own floor, no guard in it.
      for (let i = 0; i < n; i++) {
        let t = performance.now();
        await client.callTool({ name: 'get_status', arguments: {} });
        samples.push(performance.now() - t);
        // list_resources reads AWS (moto): every third round, as over stdio.
        if (i % 3 === 0) {
          t = performance.now();
          await client.callTool({ name: 'list_resources', arguments: {} });
          lists.push(performance.now() - t);
        }
        // 2026-07-28 has no ping: the handshake era's ping stands for both.
        if (era === '2026-07-28') continue;
        t = performance.now();
        await client.ping();
        pings.push(performance.now() - t);
      }
      await client.close();
      const s = summarize(samples);
      const more = s.median - stdio.statusMedian;
      const floor = pings.length
        ? `; HTTP ping ${ms(summarize(pings).median)} (stdio ping ${ms(stdio.pingMedian)}): the call adds ${ms(s.median - summarize(pings).median)} to the HTTP ping, ${ms(stdio.statusMedian - stdio.pingMedian)} to the stdio one`
        : '';
      const l = summarize(lists);
      out(`  list_resources over HTTP (${era})   median ${ms(l.median)}  p99 ${ms(l.p99)} — stdio + ${ms(l.median - stdio.listMedian)}`);
      out(
        `  get_status over HTTP (${era})   median ${ms(s.median)}  p99 ${ms(s.p99)} — stdio + ${ms(more)} (target ≤ 1 ms: ${more <= 1 ? 'met' : 'not met'})${floor}`,
      );
    }
    await leanWireBench(out, { url, token, policy, db: join(dir, 'lean.db') });
  } finally {
    child.kill();
  }
}
