// Prepended to the bundle by the build (esbuild banner), so it runs before any module loads.
// PID 1 gets no default signal behaviour: a signal without a handler is dropped by the kernel,
// and SIGUSR1 without a JS handler makes Node open its inspector on 127.0.0.1:9229. Installing
// handlers here shrinks that window to Node's own boot; signals that arrive before the
// supervisor is wired up are queued and replayed by src/sources/signals.ts (through
// src/boot/release-early-signals.ts), not lost.
(() => {
  // The same list as HANDLED_SIGNALS in src/sources/signals.ts (test/unit/signal-lists.test.ts).
  const names = ["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU",
    "SIGPWR", "SIGALRM", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGURG", "SIGIO", "SIGSTKFLT", "SIGABRT"];
  const queue = [];
  const handler = (signal) => { queue.push(signal); };
  for (const name of names) process.on(name, handler);
  globalThis.__pidoneEarlySignals = {
    names,
    queue,
    /** Remove the early handlers and return what they caught. */
    release() {
      for (const name of names) process.removeListener(name, handler);
      return queue.splice(0);
    },
  };
})();
