// Opens the audit store for wardenctl: the file must exist (a typo must not create an empty store), and closes it.
import { ExitError } from '../../src/cli/run-main.js';
import { storeLocation } from '../../src/cli/store-location.js';
import type { AuditLog } from '../../src/store/audit.js';
import { Store } from '../../src/store/store.js';

export function openStore(dbFlag: string | undefined, opts: { readOnly?: boolean } = {}): { store: Store; audit: AuditLog; file: string } {
  const file = storeLocation(dbFlag);
  let store: Store;
  try {
    store = Store.open(file, { mustExist: true, readOnly: opts.readOnly });
  } catch (e) {
    throw new ExitError(2, `cannot open audit store ${Store.shown(file)}: ${(e as Error).message}`);
  }
  return { store, audit: store.audit, file };
}

type Opened = ReturnType<typeof openStore>;

/** Runs `fn` with the store open and closes it afterwards, also when `fn` is async or throws. */
/** `readOnly` for commands that only read: they answer on a read-only or full file system. */
export function withStore<T>(dbFlag: string | undefined, fn: (opened: Opened) => T, opts: { readOnly?: boolean } = {}): T {
  const opened = openStore(dbFlag, opts);
  let result: T;
  try {
    result = fn(opened);
  } catch (e) {
    opened.store.close();
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => opened.store.close()) as T;
  opened.store.close();
  return result;
}

/** withStore for commands that only read: a read-only connection, so they answer on a read-only or full file system. */
export function readStore<T>(dbFlag: string | undefined, fn: (opened: Opened) => T): T {
  return withStore(dbFlag, fn, { readOnly: true });
}
