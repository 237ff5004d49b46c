// node:net on first use. It costs about 2 ms to load, and nothing needs it before the app's
// spawn (src/sys/process-wrap.ts spawns without child_process, which would load it): the
// control socket listens after the spawn, readiness and address checks run later or rarely.
// Portable: the sync sender (macOS, Windows) reaches it through the address parser.
// With require: the bundle may not hold a dynamic import() (src/boot/load-bundle.js).
let loaded: typeof import("node:net") | undefined;

export function net(): typeof import("node:net") {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require("node:net") as typeof import("node:net");
  return loaded;
}
