// What src/boot/load-bundle.js (the entry) left for the bundle: how the code cache went, and the
// hook that writes it once the first generation is spawned. Absent when the modules run without
// the entry (unbundled tests).
declare global {
  // eslint-disable-next-line no-var
  var __pidoneBoot: { codeCache: string; spawned(): void } | undefined;
}

/** After the first spawn: let the entry write the code cache if asked to (PIDONE_WRITE_CODE_CACHE=1,
 *  the build's run) and return how the cache went: hit, missing, stale, rejected, written, or
 *  "not written: <why>"; "none" without the entry. */
export function firstSpawnDone(): string {
  const boot = globalThis.__pidoneBoot;
  if (!boot) return "none";
  boot.spawned();
  return boot.codeCache;
}
