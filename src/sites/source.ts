// What a deploy uploads: the files under an allowed root, with symlinks, devices and dotfiles judged, hashed once.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, realpathSync } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { lookup } from 'mime-types';
import type { SitesPolicy } from '../policy/schema.js';
import { MULTIPART_BYTES, PartHasher } from './parts.js';
import { Refusal } from '../core/errors.js';

export interface SourceFile {
  key: string;
  path: string;
  size: number;
  md5: string;
  sha256: string;
  /** For a file that goes up in parts: S3's checksum of that multipart object (parts.ts). */
  sha256Parts?: string;
  contentType: string;
}

export interface Source {
  dir: string;
  files: SourceFile[];
  /** The first SKIPPED_SHOWN skipped entries by path; skippedCount says how many there were in all. */
  skipped: { path: string; why: string }[];
  skippedCount: number;
  bytes: number;
}

/** How many files planning reads at once. */
const HASH_CONCURRENCY = 16;

/** How many skipped entries an answer (and its audit row) names; the rest are counted. */
export const SKIPPED_SHOWN = 50;

const inside = (child: string, parent: string) => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

/** Roots as real paths; a root that does not exist allows nothing. */
function realRoots(roots: string[]): string[] {
  return roots
    .map((r) => resolve(r))
    .filter((r) => existsSync(r))
    .map((r) => realpathSync(r));
}

/** One read of the file: its MD5 (the ETag a single-part upload gets), SHA-256, and for a large one its parts' checksum. */
async function hashFile(path: string, size: number): Promise<{ md5: string; sha256: string; sha256Parts?: string }> {
  const md5 = createHash('md5');
  const sha = createHash('sha256');
  const parts = size > MULTIPART_BYTES ? new PartHasher() : null;
  for await (const chunk of createReadStream(path)) {
    md5.update(chunk as Buffer);
    sha.update(chunk as Buffer);
    parts?.update(chunk as Buffer);
  }
  return { md5: md5.digest('hex'), sha256: sha.digest('hex'), ...(parts ? { sha256Parts: parts.composite() } : {}) };
}

export async function scanSource(sourceDir: string, sites: SitesPolicy): Promise<Source> {
  const roots = realRoots(sites.roots);
  const named = sites.roots.join(', ') || '(none: the policy lists no sites.roots)';
  const dir = resolve(sourceDir);
  let real: string;
  try {
    real = await realpath(dir);
  } catch {
    throw new Refusal(`source_dir ${sourceDir}: does not exist`);
  }
  const root = roots.find((r) => inside(real, r));
  // Checked on the real path: a symlinked directory cannot lead outside the allowed roots.
  if (!root) throw new Refusal(`source_dir ${sourceDir} (really ${real}) not in ${named}`);
  if (!(await stat(real)).isDirectory()) throw new Refusal(`source_dir ${sourceDir}: not a directory`);

  const found: Omit<SourceFile, 'md5' | 'sha256' | 'sha256Parts'>[] = [];
  const skipped: { path: string; why: string }[] = [];
  const maxBytes = sites.max_total_mb * 2 ** 20;
  let bytes = 0;
  const stack = [real];
  while (stack.length) {
    const current = stack.pop() as string;
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      const rel = relative(real, path).split(sep).join('/');
      if (!sites.allow_dotfiles && entry.name.startsWith('.')) {
        skipped.push({ path: rel, why: 'dotfile (the policy does not allow them)' });
        continue;
      }
      const info = await lstat(path);
      let target = path;
      if (info.isSymbolicLink()) {
        try {
          target = await realpath(path);
        } catch {
          skipped.push({ path: rel, why: 'broken symlink' });
          continue;
        }
        if (!inside(target, root)) {
          skipped.push({ path: rel, why: `symlink to ${target}, outside ${root}` });
          continue;
        }
        if ((await stat(target)).isDirectory()) {
          skipped.push({ path: rel, why: 'symlinked directory (not followed)' });
          continue;
        }
      } else if (info.isDirectory()) {
        stack.push(path);
        continue;
      } else if (!info.isFile()) {
        skipped.push({ path: rel, why: 'not a regular file (device, socket or pipe)' });
        continue;
      }
      const size = (await stat(target)).size;
      bytes += size;
      if (found.length + 1 > sites.max_files)
        throw new Refusal(`source_dir ${sourceDir}: more than ${sites.max_files} files (policy sites.max_files)`);
      if (bytes > maxBytes) throw new Refusal(`source_dir ${sourceDir}: more than ${sites.max_total_mb} MB (policy sites.max_total_mb)`);
      found.push({ key: rel, path: target, size, contentType: lookup(rel) || 'application/octet-stream' });
    }
  }
  // Within the limits: every file read once to hash it, HASH_CONCURRENCY at a time (a site is mostly small files, where
  // opening and reading one at a time, not hashing, is what takes the time).
  const files: SourceFile[] = new Array(found.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < found.length; i = next++) files[i] = { ...found[i], ...(await hashFile(found[i].path, found[i].size)) };
  };
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, found.length) }, worker));
  files.sort((a, b) => a.key.localeCompare(b.key));
  skipped.sort((a, b) => a.path.localeCompare(b.path));
  return { dir: real, files, skipped: skipped.slice(0, SKIPPED_SHOWN), skippedCount: skipped.length, bytes };
}
