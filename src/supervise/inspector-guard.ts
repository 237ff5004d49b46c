// The inspector a SIGUSR1 may open while Node boots, before pidone's handler is installed.
import type { Logger } from "pino";

/** A SIGUSR1 that reached Node before the early handler was installed opens the inspector
 *  (127.0.0.1:9229). Where Node has --disable-sigusr1 (22.14+) and it is used, this never
 *  happens. Otherwise close the inspector: not once, because Node's watchdog thread counts the
 *  boot-time SIGUSR1s on a semaphore and starts the inspector once per count, even after the JS
 *  handler took over. So watch for a bounded second after startup; no timer is left once idle. */
export function closeInspectorOpenedBySignal(log: Logger): void {
  const flags = `${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`;
  if (flags.includes("--disable-sigusr1") || flags.includes("--inspect")) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const inspector = require("node:inspector") as typeof import("node:inspector");
  let closed = 0;
  const check = () => {
    if (inspector.url() === undefined) return;
    inspector.close();
    closed++;
    log.warn({ event: "inspector-closed", reason: "SIGUSR1 arrived during Node's boot, before pidone's handler; run node with --disable-sigusr1 (Node 22.14+)" });
  };
  check();
  let turns = 0;
  const timer = setInterval(() => {
    check();
    if (++turns < 100) return;
    clearInterval(timer);
    log.debug({ event: "inspector-guard-done", closed });
  }, 10);
  timer.unref();
}
