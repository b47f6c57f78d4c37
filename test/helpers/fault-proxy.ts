// A loopback proxy in front of moto that a test controls: it records every request (method, path, query, headers,
// body) and may pass it, answer it with an error, hang it, reset it before AWS acts, or reset it after AWS acted.
// Faults the emulator cannot produce come from here; aws-warden's clients reach it the way a user's config points
// them anywhere: AWS_ENDPOINT_URL_<SERVICE>.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll } from 'vitest';

export interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * What to do with one request. `reset_after`: forward it, let AWS act, then drop the connection without an answer;
 * `hang_after`: forward it, let AWS act, and never answer (a process killed meanwhile never learns it acted).
 */
export type Fault =
  | 'pass'
  | 'hang'
  | 'reset'
  | 'reset_after'
  | 'hang_after'
  | { status: number; code: string; message?: string }
  /** Forward it, then answer with these response headers changed (null: removed), as a store that reports otherwise. */
  | { headers: Record<string, string | null> }
  /** Hold it until `after` settles, then forward it (a request in flight for as long as the test needs). */
  | { after: Promise<unknown> };

export class FaultProxy {
  readonly seen: Seen[] = [];
  /** Decides each request; everything passes unless a test says otherwise. */
  rule: (r: Seen) => Fault = () => 'pass';
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<this> {
    const target = new URL(this.target);
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://proxy');
        // `/bucket/` and `/bucket` are the same bucket: the trailing slash is dropped.
        const seen: Seen = {
          method: req.method ?? 'GET',
          path: url.pathname.replace(/(.)\/$/, '$1'),
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks),
        };
        this.seen.push(seen);
        const fault = this.rule(seen);
        if (fault === 'hang') return;
        if (fault === 'reset') return void req.socket.destroy();
        if (typeof fault === 'object' && 'status' in fault) {
          const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>${fault.message ?? fault.code}</Message></Error>`;
          res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
          return void res.end(xml);
        }
        const forward = () => {
          const upstream = request(
            { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
            (up) => {
              const body: Buffer[] = [];
              up.on('data', (c: Buffer) => body.push(c));
              up.on('end', () => {
                if (fault === 'reset_after') return void req.socket.destroy();
                if (fault === 'hang_after') return;
                const headers = { ...up.headers };
                if (typeof fault === 'object' && 'headers' in fault)
                  for (const [k, v] of Object.entries(fault.headers)) {
                    if (v === null) delete headers[k];
                    else headers[k] = v;
                  }
                res.writeHead(up.statusCode ?? 502, headers);
                res.end(Buffer.concat(body));
              });
            },
          );
          upstream.on('error', () => req.socket.destroy());
          upstream.end(seen.body);
        };
        if (typeof fault === 'object' && 'after' in fault) void fault.after.then(forward, forward);
        else forward();
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  /** Points one service's clients (created after this) at the proxy; returns the undo. */
  route(service: 'S3' | 'EC2' | 'STS' | 'RDS'): () => void {
    const key = `AWS_ENDPOINT_URL_${service}`;
    const saved = process.env[key];
    process.env[key] = this.url;
    return () => {
      if (saved === undefined) delete process.env[key];
      else process.env[key] = saved;
    };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** The S3 operation a request is, told from its method and query (path style: /bucket/key). */
export function s3Operation(r: Seen): string {
  const q = r.query;
  const hasKey = r.path.split('/').filter(Boolean).length > 1;
  if (r.method === 'PUT' && q.has('tagging')) return hasKey ? 'PutObjectTagging' : 'PutBucketTagging';
  if (r.method === 'PUT' && q.has('partNumber')) return 'UploadPart';
  if (r.method === 'PUT' && hasKey) return 'PutObject';
  if (r.method === 'PUT' && [...q.keys()].length === 0) return 'CreateBucket';
  if (r.method === 'DELETE' && hasKey) return q.has('versionId') ? 'DeleteObjectVersion' : 'DeleteObject';
  if (r.method === 'DELETE' && [...q.keys()].length === 0) return 'DeleteBucket';
  if (r.method === 'POST' && q.has('uploads')) return 'CreateMultipartUpload';
  if (r.method === 'POST' && q.has('uploadId')) return 'CompleteMultipartUpload';
  if (r.method === 'HEAD') return hasKey ? 'HeadObject' : 'HeadBucket';
  return `${r.method} ${[...q.keys()].join(',')}`;
}

/**
 * A proxy for the enclosing describe block (or file): started before its tests with `service` routed through it,
 * everything passing again after each test, closed at the end. Returns a getter, since it starts later.
 */
export function useFaultProxy(service: 'S3' | 'EC2' | 'STS' | 'RDS'): () => FaultProxy {
  let proxy: FaultProxy | undefined;
  let unroute = () => {};
  beforeAll(async () => {
    proxy = await new FaultProxy(process.env.AWS_ENDPOINT_URL as string).start();
    unroute = proxy.route(service);
  });
  afterEach(() => {
    if (proxy) proxy.rule = () => 'pass';
  });
  afterAll(async () => {
    unroute();
    await proxy?.close();
  });
  return () => proxy as FaultProxy;
}
