// The few syscalls Node does not expose, through koffi. Nothing else in pidone touches FFI.
// koffi's native part is loaded straight from the .node file the build copies beside the bundle
// (dist/koffi/<triplet>/koffi.node): its JS loader looks for its platform package relative to
// node_modules, which does not exist in an image that only carries dist/.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import path from "node:path";
import type * as Koffi from "koffi";

/** The typed surface pidone needs from libc. */
export interface Libc {
  /** waitpid(pid, &status, WNOHANG): the pid reaped, 0 if it is still running, -1 on error. */
  reapIfZombie(pid: number): number;
  /** Make this process a child subreaper, so orphans of its descendants come to it. */
  setChildSubreaper(): boolean;
}

const WNOHANG = 1;
const PR_SET_CHILD_SUBREAPER = 36;

/** koffi itself, from the bundle's dist/koffi/ or node_modules; shared by every FFI module in src/sys/. */
export function loadKoffi(): typeof Koffi {
  const req = createRequire(__filename);
  const arch = process.arch;
  // Try glibc first, then musl (Alpine); the one that does not match the node binary fails to load.
  const candidates = [`linux_${arch}`, `musl_${arch}`].flatMap((triplet) => [
    path.join(__dirname, "koffi", triplet, "koffi.node"),
    path.join(__dirname, "..", "node_modules", "@koromix", `koffi-linux-${arch}`, triplet, "koffi.node"),
  ]);
  let lastError: unknown = new Error(`no koffi.node for ${process.platform}-${arch} beside ${__dirname}`);
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    try {
      return req(file) as typeof Koffi;
    } catch (err) {
      lastError = err;
    }
  }
  // Unbundled (tests, ts sources): the package's own loader knows where it is.
  try {
    return req("koffi") as typeof Koffi;
  } catch {
    throw lastError;
  }
}

/** Load libc through koffi. Throws if the native module or a symbol is missing. */
export function loadLibc(): Libc {
  const koffi = loadKoffi();
  // dlopen(NULL): the symbols of the running node binary, which links the C library in use.
  const lib = koffi.load(null as unknown as string);
  const waitpid = lib.func("int waitpid(int pid, _Out_ int *status, int options)");
  const prctl = lib.func("int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)");
  const status = [0];
  return {
    reapIfZombie: (pid) => waitpid(pid, status, WNOHANG) as number,
    setChildSubreaper: () => prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) === 0,
  };
}
