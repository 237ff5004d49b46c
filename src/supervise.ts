// Wiring of the supervisor: config -> preflight -> logger -> runner -> sources. Loaded by main.ts
// only when pidone supervises (not for `pidone restart`/`status` or the exec shim). What it does
// to pidone's own process (libc loading, signal mask, inspector guard, heap) is in supervise/.
import { lstatSync } from "node:fs";
import { isatty } from "./sys/binding.js";
import type { Logger } from "pino";
import type { Config } from "./cli/config.js";
import { BindError, ConfigError } from "./errors.js";
import { createDeferredLogger } from "./log.js";
import { firstSpawnDone } from "./boot/loaded.js";
import { EXIT, exitCode } from "./exit-code.js";
import { Runner, now } from "./supervisor/runner.js";
import { plainSpawner, spawnApi } from "./child/spawn.js";
import type { Outcome } from "./supervisor/events.js";
import type { Policy } from "./supervisor/state.js";
import { lazyLibc } from "./supervise/lazy-libc.js";
import { HANDLED_SIGNALS, watchSignals } from "./sources/signals.js";
import { unblockHandledSignals } from "./supervise/unblock-signals.js";
import { keepHeapSmall } from "./supervise/heap.js";
import { closeInspectorOpenedBySignal } from "./supervise/inspector-guard.js";
import { removeTrigger, watchTriggerFile } from "./sources/trigger-file.js";
import { watchPaths } from "./sources/watch.js";
import { Sources } from "./sources/guard.js";
import { preflight } from "./preflight.js";
import { ControlSocketError, startControlServer } from "./control/server.js";
import type { Handoff } from "./child/handoff.js";
import { startCapture } from "./output/start.js";
import type { OutputSource } from "./output/capture.js";

/** Fixed parts of the crash policy (see README, "Restarts"). */
const BACKOFF = { backoffInitialMs: 100, backoffMaxMs: 30_000, backoffResetMs: 10_000, killGraceMs: 2_000 };

/** Run the app under supervision until it ends; `exit` ends the process with a code (main.ts).
 *  A bad configuration found before the first spawn is thrown as ConfigError, for main.ts. */
export async function supervise(config: Config, exit: (code: number) => never): Promise<void> {
  // pino loads after the spawn; the few events before it are held (log.ts).
  const { log, load: loadLogger } = createDeferredLogger(config.logLevel, config.logFormat);
  // Everything that can be checked is checked before the first side effect (preflight.ts);
  // what is left (binding, listening) fails with a ConfigError before the first spawn.
  const plan = preflight(config);
  for (const w of plan.warnings) log.warn({ ...w });
  const trigger = plan.triggerFile;
  let control = plan.controlSocket;
  const closers: (() => unknown)[] = [];
  const libc = lazyLibc(log);
  // --listen and --health load their modules only when asked for (node:http alone costs ms).
  const handoff: Handoff | undefined = config.listen ? (await import("./child/handoff.js")).openHandoff({ addresses: config.listen, log }) : undefined;
  if (config.overlap && handoff && !handoff.steersAll) {
    handoff.close();
    throw new ConfigError("--overlap: this kernel cannot steer connections between two sockets (SO_ATTACH_REUSEPORT_CBPF, Linux 4.5+)");
  }
  // isatty(0), judged once.
  const terminal = isatty(0);
  // --preload: the zygote has imported the modules (or failed to: exit 2) before the first spawn.
  const preload = config.preload && plan.python ? await (await import("./preload/launcher.js")).startPreload({
    python: plan.python, modules: config.preload, cwd: process.cwd(), guarded: [process.cwd(), ...config.watch],
    heldFds: handoff?.heldFds ?? [], command: config.command, args: config.args, log, terminal,
  }).catch((err: unknown) => { handoff?.close(); throw err; }) : undefined;
  const policy: Policy = {
    signalScope: config.signalScope, stopSignal: config.stopSignal, stopTimeoutMs: config.stopTimeoutMs, restart: config.restart,
    maxRestarts: config.maxRestarts, restartWindowMs: config.restartWindowMs, changeWindowMs: config.changeWindowMs, ...BACKOFF, drain: handoff?.drains ?? false,
    overlap: config.overlap !== undefined, readyTimeoutMs: config.overlap?.readyTimeoutMs ?? 0,
  };
  const closeAll = () => {
    for (const close of closers) {
      try {
        close();
      } catch {
        // best effort: we are leaving
      }
    }
  };
  const onExit = (outcome: Outcome) => {
    const code = exitCode(outcome);
    log.info({ event: "exit", code, reason: outcome.kind, ...("status" in outcome ? { status: outcome.status } : {}) });
    closeAll();
    exit(code);
  };
  if (handoff) closers.push(handoff.close);
  if (preload) closers.push(() => preload.close());
  const sources = new Sources(log);
  closers.push(() => sources.closeAll());
  // The app's stdout and stderr (those that are not terminals) go through pidone (src/output/).
  const output = startCapture({ log });
  if (output) closers.push(() => output.capture.close());
  const runner = new Runner({
    command: config.command, args: config.args, policy, log, libc, onExit, handoff, terminal, readySignal: config.overlap?.readySignal,
    spawner: output ? output.capture.wrap(preload ?? plainSpawner(config.command, config.args, terminal)) : preload,
    outputTail: (generation) => output?.capture.outputTail(generation) ?? null,
  });

  // From here on PID 1 must not die by accident: an internal error stops the app, then exits 1.
  const internal = (err: unknown) => {
    log.error({ event: "internal-error", error: err instanceof Error ? err.stack : String(err) });
    try {
      runner.dispatch({ type: "internal-error", message: err instanceof Error ? err.message : String(err), at: now() });
    } catch {
      runner.killEverything();
      exit(EXIT.internalError);
    }
  };
  process.on("uncaughtException", internal);
  process.on("unhandledRejection", internal);
  process.on("SIGCHLD", runner.onChildSignal);
  closers.push(watchSignals(runner.dispatch, config.restartSignal, now));

  if (trigger && removeTrigger(trigger, log)) log.info({ event: "stale-trigger-removed", path: trigger });
  // The control socket listens after the spawn (it costs about 3 ms), unless something is at its
  // path already: only then can listening fail for a reason the user must hear about before
  // anything starts (another pidone is listening there: exit 2 for an explicit --control-socket).
  const controlFirst = control !== null && somethingAt(control);
  try {
    if (control !== null && controlFirst) control = await startControl(config, control, runner, closers, log, "before-spawn", output?.capture);
    await startHealth(config, runner, closers, log);
  } catch (err) {
    // A bad --control-socket or --health, before the first spawn: what is open (the --listen
    // sockets, a --preload zygote) goes before main.ts reports it and exits 2.
    closeAll();
    throw err;
  }

  if (process.pid !== 1) {
    const ok = libc()?.setChildSubreaper() ?? false;
    log.info({ event: ok ? "subreaper" : "subreaper-failed", pid: process.pid, note: "not PID 1: orphans of the app are re-parented to pidone" });
  }

  runner.dispatch({ type: "start", at: now() });
  // The entry's code cache holds what ran until here (src/boot/load-bundle.js).
  const codeCache = firstSpawnDone();
  const loadedBySpawn = heavyModulesLoaded();
  // From the spawn on, PID 1 may not bail out: a source that fails is turned off with a warning
  // (sources/guard.ts), and anything else that throws here stops the app first, then exits 1.
  try {
    keepHeapSmall(runner);
    // After the spawn: loading node:inspector and koffi costs milliseconds the app's start need not wait for.
    loadLogger();
    log.debug({ event: "code-cache", state: codeCache });
    log.debug({ event: "spawn-api", api: spawnApi(), loadedBySpawn });
    closeInspectorOpenedBySignal(log);
    libc();
    unblockHandledSignals([...new Set([...HANDLED_SIGNALS, config.restartSignal])], log);
    if (control !== null && !controlFirst) control = await startControl(config, control, runner, closers, log, "after-spawn", output?.capture);
    await startSources(config, { trigger, control }, sources, runner, log);
  } catch (err) {
    internal(err);
  }
}

/** The control socket; returns its path, or null if it had to be turned off. Before the spawn
 *  (when something is at the path) an explicit --control-socket that cannot listen is a
 *  ConfigError (exit 2); after the spawn PID 1 carries on without it, with a warning, as for the
 *  default socket (preflight has already judged the path; what is left is a race). */
async function startControl(
  config: Config, control: string, runner: Runner, closers: (() => unknown)[], log: Logger, when: "before-spawn" | "after-spawn", output?: OutputSource,
): Promise<string | null> {
  try {
    closers.push(await startControlServer(control, {
      dispatch: runner.dispatch, now, status: () => runner.snapshot(), subscribe: (l) => runner.subscribe(l), log,
      privateDir: !config.controlSocketExplicit, overlap: config.overlap !== undefined,
      readiness: { readyTcp: config.readyTcp, readyHttp: config.readyHttp }, outputTail: (g) => runner.outputTail(g), output,
    }));
    return control;
  } catch (err) {
    // After the spawn, whatever went wrong turns the control socket off: PID 1 runs on.
    if (!(err instanceof ControlSocketError) && when === "before-spawn") throw err;
    const reason = err instanceof Error ? err.message : String(err);
    if (config.controlSocketExplicit && when === "before-spawn") throw new ConfigError(`--control-socket: ${reason}`);
    log.warn({ event: "control-socket-disabled", path: control, reason });
    return null;
  }
}

/** The health server, before the first spawn, so that a --health that cannot listen is exit 2. */
async function startHealth(config: Config, runner: Runner, closers: (() => unknown)[], log: Logger): Promise<void> {
  const health = config.health;
  if (!health) return;
  const { startHealthServer } = await import("./control/health.js");
  const { describeBindError } = await import("./cli/listen-address.js");
  closers.push(await startHealthServer(health, { status: () => runner.snapshot(), now, log, readyTcp: config.readyTcp, readyHttp: config.readyHttp })
    .catch((err: unknown) => { throw err instanceof BindError ? new ConfigError(describeBindError(err.code, health, "--health")) : err; }));
}

/** Which of node's costlier modules had loaded by the first spawn (the debug event spawn-api;
 *  none should have: src/sys/binding.ts, src/lazy-net.ts). process.moduleLoadList is Node's own
 *  list of what it loaded; a node without it gives []. */
function heavyModulesLoaded(): string[] {
  const list = (process as unknown as { moduleLoadList?: readonly string[] }).moduleLoadList ?? [];
  return ["net", "child_process", "tty", "http", "perf_hooks", "inspector"].filter((m) => list.includes(`NativeModule ${m}`));
}

/** Whether anything (a socket, a file, a dangling symlink) is at `file`. */
function somethingAt(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/** The restart sources that need a scan or a watch: they start after the app, so they do not
 *  delay its start, each through the guard. Logs `ready` with those that run. */
async function startSources(
  config: Config, paths: { trigger: string | null; control: string | null }, sources: Sources, runner: Runner, log: Logger,
): Promise<void> {
  const { trigger, control } = paths;
  if (trigger) await sources.start("trigger-file", () => watchTriggerFile(trigger, config.pollMs, runner.dispatch, now, log));
  if (config.watch.length > 0) {
    await sources.start("watch", () => watchPaths({
      paths: config.watch, ignore: config.ignore, exclude: [trigger, control].filter((p): p is string => p !== null),
      debounceMs: config.debounceMs, pollMs: config.pollMs, cwd: process.cwd(),
    }, runner.dispatch, now, log));
  }
  const names = [`signal:${config.restartSignal}`, ...(control ? ["control"] : []), ...sources.names()];
  log.info({ event: "ready", pid: process.pid, sources: names, triggerFile: sources.names().includes("trigger-file") ? trigger : null, controlSocket: control, watch: config.watch });
}
