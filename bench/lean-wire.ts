// get_status over stdio and over HTTP with the leanest client each transport allows, so the figure is what the server's
// transport and token check add, not what an SDK client spends on its side: JSON-RPC lines on the served process's
// pipe, and one POST each on a kept-alive node:http connection. Both send the same 2026-07-28 request, alternately, so
// a noisy machine moves both.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { packageRoot } from '../src/emulator/moto.js';
import { ms, summarize } from './stats.js';
import { WARM_UP } from './stdio.js';

const CLI = join(packageRoot(), 'dist', 'src', 'cli', 'aws-warden.js');

const CALL = {
  jsonrpc: '2.0',
  method: 'tools/call',
  params: {
    name: 'get_status',
    arguments: {},
    _meta: {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '0' },
      'io.modelcontextprotocol/clientCapabilities': {},
    },
  },
};

/** A served stdio process answering one JSON-RPC line at a time. */
function stdioServer(policy: string, db: string) {
  const child = spawn(process.execPath, [CLI, 'serve', '--agent', 'wire-bot', '--policy', policy, '--db', db], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  let buf = '';
  const waiting = new Map<number, { resolve: (line: string) => void; reject: (e: Error) => void }>();
  // A server that exits fails the call it owed, with what it said, rather than leaving the bench waiting forever.
  child.on('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`serve exited (${code}): ${stderr}`));
    waiting.clear();
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      // Only answers settle a call; a notification the server sends between them is not one.
      const answers = (JSON.parse(line) as { id?: number }).id;
      if (answers === undefined) continue;
      waiting.get(answers)?.resolve(line);
      waiting.delete(answers);
    }
  });
  let id = 0;
  return {
    call: () =>
      new Promise<string>((resolve, reject) => {
        if (child.exitCode !== null) return reject(new Error(`serve exited (${child.exitCode}): ${stderr}`));
        waiting.set(++id, { resolve, reject });
        child.stdin.write(`${JSON.stringify({ ...CALL, id })}\n`);
      }),
    close: () => child.kill(),
  };
}

/** One POST per call on a single kept-alive connection, as an HTTP client with nothing of its own to do would send it. */
function httpClient(url: URL, token: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let id = 0;
  return {
    call: () =>
      new Promise<string>((resolve, reject) => {
        const body = JSON.stringify({ ...CALL, id: ++id });
        const req = request(
          url,
          {
            method: 'POST',
            agent,
            headers: {
              accept: 'application/json, text/event-stream',
              authorization: `Bearer ${token}`,
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              'mcp-method': 'tools/call',
              'mcp-name': 'get_status',
              'mcp-protocol-version': '2026-07-28',
            },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}: ${text}`))));
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}

export async function leanWireBench(
  out: (s: string) => void,
  wire: { url: URL; token: string; policy: string; db: string },
  n = 2000,
): Promise<void> {
  const stdio = stdioServer(wire.policy, wire.db);
  const http = httpClient(wire.url, wire.token);
  try {
    const answered = async (c: { call: () => Promise<string> }, where: string) => {
      const line = await c.call();
      if (!line.includes('"result"') || line.includes('"isError":true'))
        throw new Error(`get_status over ${where} failed: ${line.slice(0, 300)}`);
    };
    await answered(stdio, 'stdio');
    await answered(http, 'HTTP');
    for (let i = 0; i < WARM_UP; i++) {
      await stdio.call();
      await http.call();
    }
    const overStdio: number[] = [];
    const overHttp: number[] = [];
    for (let i = 0; i < n; i++) {
      let t = performance.now();
      await stdio.call();
      overStdio.push(performance.now() - t);
      t = performance.now();
      await http.call();
      overHttp.push(performance.now() - t);
    }
    await answered(stdio, 'stdio');
    await answered(http, 'HTTP');
    const s = summarize(overStdio);
    const h = summarize(overHttp);
    const more = h.median - s.median;
    out(
      `  get_status with lean clients (2026-07-28; JSON-RPC lines on the stdio pipe, one kept-alive node:http POST each): stdio median ${ms(s.median)}  p99 ${ms(s.p99)}; HTTP median ${ms(h.median)}  p99 ${ms(h.p99)} — the server's HTTP transport and token check add ${ms(more)} (target ≤ 1 ms: ${more <= 1 ? 'met' : 'not met'})`,
    );
  } finally {
    stdio.close();
    http.close();
  }
}
