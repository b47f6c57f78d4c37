// The demo's health endpoints, on loopback ports chosen free at start: the site's (healthy unless the script breaks
// it on purpose) and the canary service's (always 503, so a client can watch an automatic rollback).
import { createServer, type Server } from 'node:http';

export interface DemoPorts {
  moto: number;
  site: number;
  canary: number;
}

export interface DemoHealth {
  /** What the site's health URL answers: 200 while true, 503 otherwise. */
  site: { healthy: boolean };
  close(): Promise<void>;
}

async function listen(port: number, answer: () => [number, string]): Promise<Server> {
  const server = createServer((_req, res) => {
    const [status, body] = answer();
    res.statusCode = status;
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return server;
}

export async function serveHealth(ports: DemoPorts): Promise<DemoHealth> {
  const site = { healthy: true };
  const servers = [
    await listen(ports.site, () => (site.healthy ? [200, 'ok'] : [503, 'broken on purpose'])),
    await listen(ports.canary, () => [503, 'not ready']),
  ];
  return {
    site,
    close: async () => {
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
