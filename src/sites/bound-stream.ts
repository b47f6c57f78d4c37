// A file read for upload that must be the file the plan hashed: opened without following a symlink, hashed as it
// streams, and failing at its end (before the upload can complete) if its bytes or size differ from the plan's.
import { createHash } from 'node:crypto';
import { constants, createReadStream, openSync } from 'node:fs';
import { Transform, type Readable } from 'node:stream';

export class ContentChanged extends Error {
  override name = 'ContentChanged';
}

export function boundStream(path: string, key: string, sha256: string, size: number): Readable {
  const hash = createHash('sha256');
  let seen = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      seen += chunk.length;
      if (seen > size)
        return done(new ContentChanged(`${key} grew past its planned ${size} bytes since the deploy was planned; not uploaded`));
      done(null, chunk);
    },
    flush(done) {
      const got = hash.digest('hex');
      if (seen !== size || got !== sha256)
        return done(
          new ContentChanged(
            `${key} changed since the deploy was planned (sha256 ${got.slice(0, 12)}…, planned ${sha256.slice(0, 12)}…); not uploaded`,
          ),
        );
      done();
    },
  });
  const refuse = (e: unknown) =>
    new ContentChanged(`${key} cannot be read as planned (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); not uploaded`);
  let fd: number;
  try {
    // O_NOFOLLOW: a file swapped for a symlink after planning is refused rather than followed out of the site root.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    process.nextTick(() => check.destroy(refuse(e)));
    return check;
  }
  const source = createReadStream('', { fd });
  source.on('error', (e) => check.destroy(refuse(e)));
  return source.pipe(check);
}
