// A deploy is healthy when S3 reports the planned checksum for every uploaded object (or, where it reports none, the
// object reads back with the planned hash), and the site URL answers 2xx.
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import type { AgentAws } from '../aws/clients.js';
import { checksumMatches, expectedChecksum } from './parts.js';

export interface SiteHealth {
  check: string;
  ok: boolean;
  detail: string;
}

/** Downloads one object version and returns its SHA-256 and the sha256 recorded on it at upload. */
export async function hashVersion(
  aws: AgentAws,
  bucket: string,
  key: string,
  versionId?: string,
): Promise<{ got: string; recorded?: string }> {
  const out = await aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  const hash = createHash('sha256');
  for await (const chunk of out.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return { got: hash.digest('hex'), recorded: out.Metadata?.sha256 };
}

/** Checks objects 16 at a time; a failed read is a failed check, never a thrown error. */
async function checkAll<T>(items: T[], check: (item: T) => Promise<SiteHealth>): Promise<SiteHealth[]> {
  const results: SiteHealth[] = [];
  for (let i = 0; i < items.length; i += 16) results.push(...(await Promise.all(items.slice(i, i + 16).map(check))));
  return results;
}

const verdict = (check: string, got: string, want: string | undefined, label: string): SiteHealth =>
  want === undefined
    ? { check, ok: false, detail: 'no recorded sha256' }
    : { check, ok: got === want, detail: got === want ? 'hash ok' : `sha256 ${got.slice(0, 12)}…, ${label} ${want.slice(0, 12)}…` };

/** Every uploaded version must read back with the hash that was planned. */
export function readBack(
  aws: AgentAws,
  bucket: string,
  objects: { key: string; versionId: string; sha256: string }[],
): Promise<SiteHealth[]> {
  return checkAll(objects, async (o) => {
    try {
      return verdict(`read back ${o.key}`, (await hashVersion(aws, bucket, o.key, o.versionId)).got, o.sha256, 'planned');
    } catch (e) {
      return { check: `read back ${o.key}`, ok: false, detail: `${(e as Error).name}: ${(e as Error).message.split('\n')[0]}` };
    }
  });
}

/** One object a deploy wrote: what was planned for it, and the checksum S3 reported for what it stored. */
export interface Uploaded {
  key: string;
  versionId: string;
  size: number;
  sha256: string;
  sha256Parts?: string;
  reported?: string;
}

/**
 * Every upload checked by the checksum S3 computed and reported for it, against the plan's; an object S3 reported no
 * checksum for (a store that does not compute them, a plan made before parts were hashed) is read back instead.
 */
export async function checkUploads(aws: AgentAws, bucket: string, uploaded: Uploaded[]): Promise<SiteHealth[]> {
  const byKey = new Map<string, SiteHealth>();
  const unreported: Uploaded[] = [];
  for (const u of uploaded) {
    const want = expectedChecksum(u);
    if (!u.reported || !want) {
      unreported.push(u);
      continue;
    }
    const ok = checksumMatches(u.reported, want);
    byKey.set(u.key, {
      check: `checksum ${u.key}`,
      ok,
      detail: ok ? 'S3 reports the planned SHA-256' : `S3 reports ${u.reported}, the plan ${want}`,
    });
  }
  for (const [i, h] of (await readBack(aws, bucket, unreported)).entries()) byKey.set(unreported[i].key, h);
  return uploaded.map((u) => byKey.get(u.key) as SiteHealth);
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
export function verifyRecorded(aws: AgentAws, bucket: string, versions: Record<string, string>): Promise<SiteHealth[]> {
  return checkAll(Object.entries(versions), async ([key, versionId]) => {
    try {
      const { got, recorded } = await hashVersion(aws, bucket, key, versionId);
      return verdict(`verify ${key}`, got, recorded, 'recorded');
    } catch (e) {
      return { check: `verify ${key}`, ok: false, detail: `${(e as Error).name}: ${(e as Error).message.split('\n')[0]}` };
    }
  });
}
