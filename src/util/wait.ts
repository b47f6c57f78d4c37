// A wait a client can see: sleeps in slices (cut short by the call's signal) and reports after each one, so clients
// that reset their request timeout on progress keep waiting through a long health check.
export async function pause(ms: number, signal: AbortSignal | undefined, tick: () => Promise<void>, everyMs = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !signal?.aborted) {
    const slice = Math.min(everyMs, end - Date.now());
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, slice);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
    if (!signal?.aborted) await tick();
  }
}
