// Node's own bindings, for the two things pidone needs before the app's spawn that would
// otherwise load node:net (about 2 ms on Node 22, with the stream machinery): starting a process
// (process_wrap, src/sys/process-wrap.ts; node:child_process loads node:net) and isatty (tty_wrap;
// node:tty loads node:net). Both are on process.binding's allow list (Node 20 and 22, where the
// suite runs; test/unit/binding.test.ts fails on a node without them), the very objects
// child_process and tty wrap, and documented as deprecated (DEP0111) but not warned about,
// except with --pending-deprecation. So a binding is taken only where that is quiet:
// without --pending-deprecation (or NODE_PENDING_DEPRECATION=1), and not under --permission
// (process.binding throws there). Elsewhere quietBinding is null and the callers use the public
// modules, which do the same.
const cache = new Map<string, unknown>();

/** Is the flag set for this node, on its command line or in NODE_OPTIONS (node reads `_` as `-`)? */
function nodeFlag(flag: string): boolean {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
  return given.some((a) => a.replace(/_/g, "-") === flag);
}

/** process.binding(name), or null where it is missing or would warn. */
export function quietBinding<T>(name: string): T | null {
  if (cache.has(name)) return cache.get(name) as T | null;
  let b: unknown = null;
  if (!nodeFlag("--pending-deprecation") && process.env.NODE_PENDING_DEPRECATION !== "1") {
    try {
      b = (process as unknown as { binding?: (name: string) => unknown }).binding?.(name) ?? null;
    } catch {
      // --permission, or a node without it
    }
  }
  cache.set(name, b);
  return b as T | null;
}

/** isatty(fd), as node:tty's, without loading it where tty_wrap is at hand. */
export function isatty(fd: number): boolean {
  // tty_wrap CHECKs for a descriptor >= 0 (aborting the process otherwise), as node:tty checks first.
  if (!Number.isInteger(fd) || fd < 0 || fd > 2147483647) return false;
  const isTTY = quietBinding<{ isTTY?: unknown }>("tty_wrap")?.isTTY;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (typeof isTTY !== "function") return (require("node:tty") as typeof import("node:tty")).isatty(fd);
  return isTTY(fd) === true;
}
