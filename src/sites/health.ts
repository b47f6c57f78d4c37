// A deploy is healthy when every uploaded object reads back with the hash that was planned, and the site URL answers 2xx.
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { AgentAws } from '../aws/clients.js';

export interface SiteHealth {
  check: string;
  ok: boolean;
  detail: string;
}

export async function readBack(aws: AgentAws, bucket: string, objects: { key: string; versionId: string; sha256: string }[]): Promise<SiteHealth[]> {
  const results: SiteHealth[] = [];
  for (let i = 0; i < objects.length; i += 16)
    results.push(
      ...(await Promise.all(
        objects.slice(i, i + 16).map(async (o) => {
          const out = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key, VersionId: o.versionId }));
          const hash = createHash('sha256');
          for await (const chunk of out.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
          const got = hash.digest('hex');
          return { check: `read back ${o.key}`, ok: got === o.sha256, detail: got === o.sha256 ? 'hash ok' : `sha256 ${got.slice(0, 12)}…, planned ${o.sha256.slice(0, 12)}…` };
        }),
      )),
    );
  return results;
}

export async function probeUrl(url: string, timeoutSeconds: number): Promise<SiteHealth> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(Math.max(500, Math.min(10_000, deadline - Date.now()))) });
      if (res.status >= 200 && res.status < 300) return { check: `GET ${url}`, ok: true, detail: `${res.status}` };
      last = `${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))));
  }
  return { check: `GET ${url}`, ok: false, detail: `no 2xx within ${timeoutSeconds}s (last: ${last})` };
}

/** Reads every version back and compares it with the sha256 recorded on the object when it was uploaded. */
export async function verifyRecorded(aws: AgentAws, bucket: string, versions: Record<string, string>): Promise<SiteHealth[]> {
  const entries = Object.entries(versions);
  const results: SiteHealth[] = [];
  for (let i = 0; i < entries.length; i += 16)
    results.push(
      ...(await Promise.all(
        entries.slice(i, i + 16).map(async ([key, versionId]) => {
          try {
            const out = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
            const hash = createHash('sha256');
            for await (const chunk of out.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
            const want = out.Metadata?.sha256;
            const got = hash.digest('hex');
            return { check: `verify ${key}`, ok: Boolean(want) && got === want, detail: want ? (got === want ? 'hash ok' : `sha256 ${got.slice(0, 12)}…, recorded ${want.slice(0, 12)}…`) : 'no recorded sha256' };
          } catch (e) {
            return { check: `verify ${key}`, ok: false, detail: `${(e as Error).name}: ${(e as Error).message.split('\n')[0]}` };
          }
        }),
      )),
    );
  return results;
}
