// How an answer mentions instances that lost the project's ownership tag: named, never silently left out.
import type { Orphan } from './instances.js';

export const orphanNote = (orphans: Orphan[]): string =>
  orphans.length
    ? `; ${orphans.length} orphaned instance(s) a human should look at: ${orphans.map((o) => o.instance).join(', ')} (no longer tagged for this project)`
    : '';
