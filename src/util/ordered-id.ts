// Time-ordered ids (UUID version 7, RFC 9562): 48 bits of Unix milliseconds, then randomness. New rows land at the right
// edge of an id index instead of on a random page, which is what an append-heavy table pays for on every commit.
import { randomUUID } from 'node:crypto';

export function orderedId(at: Date): string {
  const ms = at.getTime().toString(16).padStart(12, '0').slice(-12);
  // A version-4 UUID supplies the random bits and the variant; its first 48 bits and version nibble are replaced.
  return `${ms.slice(0, 8)}-${ms.slice(8)}-7${randomUUID().slice(15)}`;
}
