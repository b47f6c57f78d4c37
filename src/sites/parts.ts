// How a site file goes up: above MULTIPART_BYTES in PART_BYTES parts. S3's checksum of a multipart object is not the
// file's SHA-256 but the SHA-256 of its parts' SHA-256s, "-" and the part count; planning computes that too, in the
// same one read of the file, so the upload can be checked by what S3 returns instead of by reading it back.
import { createHash, type Hash } from 'node:crypto';

/** Above this a file goes up in parts (lib-storage); below, one PutObject. */
export const MULTIPART_BYTES = 16 * 2 ** 20;
export const PART_BYTES = 8 * 2 ** 20;

/** Hashes a stream's chunks as the parts of a PART_BYTES multipart upload; `composite()` is S3's checksum of it. */
export class PartHasher {
  private readonly parts: Buffer[] = [];
  private current: Hash = createHash('sha256');
  private filled = 0;

  update(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(PART_BYTES - this.filled, chunk.length - at);
      this.current.update(chunk.subarray(at, at + take));
      this.filled += take;
      at += take;
      if (this.filled === PART_BYTES) this.close();
    }
  }

  /** base64(sha256(part1 ‖ part2 ‖ …)) + "-" + parts, as S3 reports ChecksumSHA256 of a multipart object. */
  composite(): string {
    if (this.filled > 0 || this.parts.length === 0) this.close();
    return `${createHash('sha256').update(Buffer.concat(this.parts)).digest('base64')}-${this.parts.length}`;
  }

  private close(): void {
    this.parts.push(this.current.digest());
    this.current = createHash('sha256');
    this.filled = 0;
  }
}

/** What S3 should report as the object's ChecksumSHA256: the whole file's, or the parts' composite. */
export function expectedChecksum(file: { size: number; sha256: string; sha256Parts?: string }): string | undefined {
  return file.size > MULTIPART_BYTES ? file.sha256Parts : Buffer.from(file.sha256, 'hex').toString('base64');
}

/**
 * Whether S3's reported checksum is the planned one. A multipart checksum may come without its "-N" (HeadObject on some
 * S3-compatible stores); the part count is compared when it is there.
 */
export function checksumMatches(reported: string, expected: string): boolean {
  const [got, gotParts] = reported.split('-');
  const [want, wantParts] = expected.split('-');
  return got === want && (gotParts === undefined || gotParts === wantParts);
}
