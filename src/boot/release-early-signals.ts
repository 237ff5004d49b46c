// The other end of src/boot/early-signals.js, which catches pidone's signals into a queue before
// any module loads: whoever takes over the signals (the supervisor's signal source, a client that
// wants Ctrl-C's default meaning back, the exec shim) reads that queue and those handlers here.
declare global {
  // Installed by src/boot/early-signals.js before the bundle's modules load.
  // eslint-disable-next-line no-var
  var __pidoneEarlySignals: { names: string[]; queue: string[]; release(): string[] } | undefined;
}

/** Remove the early handlers; returns the signals they queued (in order). Safe to call when the
 *  entry is absent (unbundled tests). */
export function releaseEarlySignals(): string[] {
  return globalThis.__pidoneEarlySignals?.release() ?? [];
}

/** Take what the early handlers have queued so far, leaving them installed (the exec shim, which
 *  resets the signals' dispositions below Node and raises these again). */
export function takeEarlySignals(): string[] {
  return globalThis.__pidoneEarlySignals?.queue.splice(0) ?? [];
}
