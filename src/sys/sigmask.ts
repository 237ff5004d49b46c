// Unblocking signals in the main thread, through koffi: Node has no sigprocmask.
//
// Why: Node blocks SIGUSR1 in the main thread before it starts any thread (PlatformInit in
// src/node.cc), so that every thread it creates inherits the block, and unblocks it again only in
// StartDebugSignalHandler (src/inspector_agent.cc), once its inspector watchdog thread exists.
// With --disable-sigusr1 (Node 22.14+) that function never runs: SIGUSR1 stays blocked in every
// thread and a `kill -USR1 1` stays pending forever, whatever JS handler is installed. A blocked
// signal is pending, not lost: unblocking it delivers it (once: standard signals coalesce) to
// libuv's handler, which is the JS handler's. The inspector's handler is never installed then, so
// this cannot open the inspector.
import { constants } from "node:os";
import { loadKoffi } from "./libc.js";

const SIG_UNBLOCK = 1;
/** glibc and musl both have a 1024-bit sigset_t; the kernel reads the first 64 bits. */
const SIGSET_BYTES = 128;

/** Unblock `signals` in the calling (main) thread. Returns the ones that were blocked before. */
export function unblockSignals(signals: readonly NodeJS.Signals[]): NodeJS.Signals[] {
  const koffi = loadKoffi();
  const lib = koffi.load(null as unknown as string);
  // pthread_sigmask, not sigprocmask: the mask is per thread, and only the main thread runs JS.
  const pthreadSigmask = lib.func("int pthread_sigmask(int how, const void *set, void *oldset)");
  const set = Buffer.alloc(SIGSET_BYTES);
  const old = Buffer.alloc(SIGSET_BYTES);
  for (const name of signals) {
    const n = constants.signals[name] - 1;
    set[n >> 3] = (set[n >> 3] as number) | (1 << (n & 7));
  }
  const err = pthreadSigmask(SIG_UNBLOCK, set, old) as number;
  if (err !== 0) throw new Error(`pthread_sigmask: error ${err}`);
  return signals.filter((name) => {
    const n = constants.signals[name] - 1;
    return ((old[n >> 3] as number) & (1 << (n & 7))) !== 0;
  });
}
