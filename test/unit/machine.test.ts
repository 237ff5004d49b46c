// The lifecycle machine, driven with plain events: no processes, no clocks. Each test feeds a
// list of events and asserts on the exact effects the machine asks for.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { transition } from "../../src/supervisor/machine.js";
import { initialModel, type Model, type Policy } from "../../src/supervisor/state.js";
import type { Effect, Event, RestartSource, TimerName } from "../../src/supervisor/events.js";
import type { ExitStatus } from "../../src/exit-status.js";
import { exitCode } from "../../src/exit-code.js";

const POLICY: Policy = {
  signalScope: "group",
  stopSignal: "SIGTERM",
  stopTimeoutMs: 5_000,
  killGraceMs: 2_000,
  restart: "on-failure",
  maxRestarts: 3,
  restartWindowMs: 60_000,
  backoffInitialMs: 100,
  backoffMaxMs: 1_000,
  backoffResetMs: 10_000,
  drain: false,
  overlap: false,
  readyTimeoutMs: 60_000,
  // Every crash counts here; the crash rule after a change has its own tests, with a window.
  changeWindowMs: 0,
};
const policy = (over: Partial<Policy> = {}): Policy => ({ ...POLICY, ...over });

const code = (n: number): ExitStatus => ({ code: n, signal: null });
const sig = (s: string): ExitStatus => ({ code: null, signal: s });

const ev = {
  start: (at = 0): Event => ({ type: "start", at }),
  spawned: (pid: number, at = 0): Event => ({ type: "spawned", pid, at }),
  spawnFailed: (errno: string, at = 0): Event => ({ type: "spawn-failed", errno, message: `app: ${errno}`, at }),
  exited: (pid: number, status: ExitStatus, at = 0): Event => ({ type: "app-exited", pid, status, at }),
  empty: (at = 0): Event => ({ type: "tree-empty", at }),
  restart: (source: RestartSource = "signal", at = 0, detail?: string): Event =>
    detail === undefined ? { type: "restart-requested", source, at } : { type: "restart-requested", source, detail, at },
  stop: (signal: string, at = 0): Event => ({ type: "stop-requested", signal, at }),
  forward: (signal: string, at = 0): Event => ({ type: "forward-signal", signal, at }),
  timer: (name: TimerName, token: number, at = 0): Event => ({ type: "timer", name, token, at }),
  internal: (message: string, at = 0): Event => ({ type: "internal-error", message, at }),
  drained: (token: number, left = 0, at = 0, ms = 5, unread = 0): Event => ({ type: "drained", token, ms, left, unread, at }),
};

/** Freeze a model all the way down: a transition that mutates its input then throws. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

interface Run {
  model: Model;
  /** Effects of each event, in order. */
  steps: Effect[][];
  effects: Effect[];
  /** Effects of the last event. */
  last: Effect[];
}

/** The driver: feed events one by one, keep every step's effects. */
function feed(events: Event[], opts: { policy?: Policy; from?: Model } = {}): Run {
  let model = opts.from ?? initialModel();
  const steps: Effect[][] = [];
  for (const event of events) {
    const step = transition(deepFreeze(model), event, opts.policy ?? POLICY);
    model = step.model;
    steps.push(step.effects);
  }
  return { model, steps, effects: steps.flat(), last: steps[steps.length - 1] ?? [] };
}

/** Effects other than log lines: what the runner actually does. */
const acts = (effects: Effect[]): Effect[] => effects.filter((e) => e.type !== "log");
type LogEffect = Extract<Effect, { type: "log" }>;
const logs = (effects: Effect[], event: string): LogEffect[] =>
  effects.filter((e): e is LogEffect => e.type === "log" && e.event === event);
const ofType = <T extends Effect["type"]>(effects: Effect[], type: T): Extract<Effect, { type: T }>[] =>
  effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);

function stateOf<K extends Model["state"]["kind"]>(model: Model, kind: K): Extract<Model["state"], { kind: K }> {
  expect(model.state.kind).toBe(kind);
  return model.state as Extract<Model["state"], { kind: K }>;
}

const RUNNING: Event[] = [ev.start(0), ev.spawned(100, 0)];
const CANCEL_STOP_TIMERS: Effect[] = [
  { type: "cancel-timer", name: "stop-deadline" },
  { type: "cancel-timer", name: "kill-grace" },
];

describe("machine: module boundaries", () => {
  it("imports no node:* module (it must stay pure)", () => {
    const source = readFileSync(path.resolve(__dirname, "../../src/supervisor/machine.ts"), "utf8");
    expect(source).not.toMatch(/from\s+["']node:/);
    expect(source).not.toMatch(/require\(/);
  });
});

describe("machine: idle", () => {
  it("start -> spawn generation 1", () => {
    const r = feed([ev.start(0)]);
    expect(r.last).toEqual([{ type: "spawn", generation: 1 }]);
    expect(stateOf(r.model, "starting")).toEqual({ kind: "starting", generation: 1, restart: null, pending: null, stopSignal: null });
    expect(r.model.ctx.generation).toBe(1);
  });

  it("stop-requested before anything ran -> exit stopped-idle with no last status", () => {
    const r = feed([ev.stop("SIGTERM", 0)]);
    expect(r.last).toEqual([{ type: "exit", outcome: { kind: "stopped-idle", signal: "SIGTERM", last: null } }]);
    expect(exitCode({ kind: "stopped-idle", signal: "SIGTERM", last: null })).toBe(143);
  });
});

describe("machine: starting", () => {
  it("spawned -> running, logs 'spawned'", () => {
    const r = feed([ev.start(0), ev.spawned(100, 7)]);
    expect(r.last).toEqual([{ type: "log", level: "info", event: "spawned", fields: { pid: 100, generation: 1 } }]);
    expect(stateOf(r.model, "running")).toEqual({ kind: "running", generation: 1, pid: 100, startedAt: 7, byChange: false });
    expect(r.model.ctx.restarts).toBe(0);
    expect(r.model.ctx.lastStartedAt).toBe(7);
  });

  it("spawned after a restart -> logs 'restart' with source, old pid and status, new pid and timings", () => {
    const r = feed([
      ev.start(0), ev.spawned(100, 5),
      ev.restart("trigger-file", 1000, "/app/.restart_trigger"),
      ev.exited(100, sig("SIGTERM"), 1300),
      ev.empty(1400),
      ev.spawned(200, 1500),
    ]);
    expect(r.steps[4]).toEqual([...CANCEL_STOP_TIMERS, { type: "spawn", generation: 2 }]);
    expect(r.last).toEqual([{
      type: "log", level: "info", event: "restart",
      fields: {
        source: "trigger-file", detail: "/app/.restart_trigger", oldPid: 100, oldStatus: "signal SIGTERM",
        newPid: 200, generation: 2, downMs: 200, totalMs: 500,
      },
    }]);
    expect(stateOf(r.model, "running")).toEqual({ kind: "running", generation: 2, pid: 200, startedAt: 1500, byChange: true });
    expect(r.model.ctx.restarts).toBe(1);
    expect(r.model.ctx.lastRestartReason).toBe("trigger-file");
  });

  it.each([
    ["ENOENT", 127],
    ["ENOTDIR", 127],
    ["EACCES", 126],
    ["ENOEXEC", 126],
  ])("spawn-failed (%s) on the first generation -> exit spawn-failed, code %i", (errno, expected) => {
    const r = feed([ev.start(0), ev.spawnFailed(errno, 1)]);
    const outcome = { kind: "spawn-failed" as const, errno, message: `app: ${errno}` };
    expect(r.last).toEqual([
      { type: "log", level: "error", event: "spawn-failed", fields: { errno, message: `app: ${errno}`, generation: 1 } },
      { type: "exit", outcome },
    ]);
    expect(stateOf(r.model, "exited").outcome).toEqual(outcome);
    expect(exitCode(outcome)).toBe(expected);
  });

  const RESTARTING: Event[] = [...RUNNING, ev.restart("signal", 10), ev.exited(100, sig("SIGTERM"), 20), ev.empty(30)];

  it.each([
    ["ENOENT", 127],
    ["EACCES", 126],
  ])("spawn-failed (%s) on a later generation -> treated as a crash with status %i: backoff", (errno, status) => {
    const r = feed([...RESTARTING, ev.spawnFailed(errno, 40)]);
    const b = stateOf(r.model, "backoff");
    expect(b.last).toEqual(code(status));
    expect(b.delayMs).toBe(100);
    expect(acts(r.last)).toEqual([{ type: "set-timer", name: "backoff", ms: 100, token: b.token }]);
    expect(logs(r.last, "spawn-failed")).toHaveLength(1);
    expect(logs(r.last, "backoff")[0]?.level).toBe("warn");
    expect(ofType(r.effects, "exit")).toEqual([]);
    expect(r.model.ctx.lastExit).toEqual(code(status));
    expect(r.model.ctx.crashes).toEqual([40]);

    // The backoff timer then tries again.
    const again = feed([ev.timer("backoff", b.token, 140)], { from: r.model });
    expect(again.last).toEqual([{ type: "spawn", generation: 3 }]);
  });

  it("spawn-failed on a later generation with --restart never -> exit with the shell's status", () => {
    const r = feed([...RESTARTING, ev.spawnFailed("ENOENT", 40)], { policy: policy({ restart: "never" }) });
    expect(acts(r.last)).toEqual([{ type: "exit", outcome: { kind: "app-exited", status: code(127) } }]);
  });

  it("restart-requested while starting is kept as one pending request; the stop begins once spawned", () => {
    const r = feed([ev.start(0), ev.restart("watch", 1, "src/a.py"), ev.restart("signal", 2), ev.spawned(100, 3)]);
    expect(acts(r.steps[1] ?? [])).toEqual([]);
    expect(acts(r.steps[2] ?? [])).toEqual([]);
    expect(acts(r.last)).toEqual([
      { type: "signal", pid: 100, signal: "SIGTERM", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 1 },
    ]);
    expect(logs(r.last, "restart-requested")[0]?.fields).toEqual({ source: "watch", detail: "src/a.py", pid: 100 });
    expect(stateOf(r.model, "stopping").then).toEqual({ kind: "respawn", request: { source: "watch", detail: "src/a.py" } });
  });

  it("stop-requested while starting -> the stop signal goes out as soon as the app is spawned", () => {
    const r = feed([...RESTARTING, ev.stop("SIGINT", 35), ev.spawned(200, 40)]);
    expect(r.steps[RESTARTING.length]).toEqual([]);
    expect(acts(r.last)).toEqual([
      { type: "signal", pid: 200, signal: "SIGINT", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 2 },
    ]);
    expect(stateOf(r.model, "stopping").then).toEqual({ kind: "exit", signal: "SIGINT" });
  });

  it("stop-requested while starting wins over a pending restart", () => {
    const r = feed([ev.start(0), ev.restart("watch", 1), ev.stop("SIGTERM", 2), ev.spawned(100, 3)]);
    expect(stateOf(r.model, "stopping").then).toEqual({ kind: "exit", signal: "SIGTERM" });
    expect(ofType(r.effects, "signal")).toHaveLength(1);
  });

  it("stop-requested while starting, then spawn-failed -> exit stopped-idle with the previous app's status", () => {
    const r = feed([...RESTARTING, ev.stop("SIGTERM", 35), ev.spawnFailed("ENOENT", 40)]);
    expect(acts(r.last)).toEqual([
      { type: "exit", outcome: { kind: "stopped-idle", signal: "SIGTERM", last: sig("SIGTERM") } },
    ]);
  });
});

describe("machine: running", () => {
  it("restart-requested -> stopping{respawn}: SIGTERM to the group and a stop deadline", () => {
    const r = feed([...RUNNING, ev.restart("control", 10)]);
    // The signal comes first: the log line (a synchronous write) must not delay it.
    expect(r.last).toEqual([
      { type: "signal", pid: 100, signal: "SIGTERM", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 1 },
      { type: "log", level: "info", event: "restart-requested", fields: { source: "control", pid: 100 } },
    ]);
    const s = stateOf(r.model, "stopping");
    expect(s).toMatchObject({ pid: 100, then: { kind: "respawn", request: { source: "control" } }, status: null, killed: false, token: 1, requestedAt: 10 });
    expect(r.model.ctx.nextToken).toBe(2);
  });

  it("with --single-child every signal goes to the child only", () => {
    const p = policy({ signalScope: "child" });
    const r = feed([...RUNNING, ev.forward("SIGHUP", 5), ev.restart("signal", 10)], { policy: p });
    expect(ofType(r.effects, "signal")).toEqual([
      { type: "signal", pid: 100, signal: "SIGHUP", scope: "child" },
      { type: "signal", pid: 100, signal: "SIGTERM", scope: "child" },
    ]);
  });

  it.each(["SIGTERM", "SIGINT", "SIGQUIT"])("stop-requested(%s) -> that signal to the group, then exit", (signal) => {
    const r = feed([...RUNNING, ev.stop(signal, 10)]);
    expect(acts(r.last)).toEqual([
      { type: "signal", pid: 100, signal, scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 1 },
    ]);
    expect(logs(r.last, "stopping")[0]?.fields).toEqual({ signal, pid: 100, stopTimeoutMs: 5000 });
    expect(stateOf(r.model, "stopping").then).toEqual({ kind: "exit", signal });
  });

  it.each([
    ["SIGWINCH", "SIGWINCH"],
    ["SIGHUP", "SIGHUP"],
    ["SIGUSR2", "SIGUSR2"],
    ["SIGCONT", "SIGCONT"],
    // Job-control stops are forwarded as received; child/kill-tree.ts decides at delivery
    // whether the app catches them or gets SIGSTOP (it needs /proc, the machine stays pure).
    ["SIGTSTP", "SIGTSTP"],
    ["SIGTTIN", "SIGTTIN"],
    ["SIGTTOU", "SIGTTOU"],
  ])("forward-signal(%s) -> %s to the app, state unchanged", (received, sent) => {
    const before = feed(RUNNING).model;
    const r = feed([ev.forward(received, 10)], { from: before });
    expect(acts(r.last)).toEqual([{ type: "signal", pid: 100, signal: sent, scope: "group" }]);
    expect(r.model.state).toEqual(before.state);
    expect(logs(r.last, "signal-forwarded")[0]?.fields).toEqual({ signal: received, pid: 100, scope: "group" });
  });

  it("app-exited (own pid, non-zero) -> stopping{after-crash}: sweep the leftovers under a deadline", () => {
    const r = feed([...RUNNING, ev.exited(100, code(3), 250)]);
    expect(r.last).toEqual([
      { type: "log", level: "warn", event: "app-exited", fields: { pid: 100, status: "exit 3", uptimeMs: 250 } },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 1 },
      { type: "sweep", signal: "SIGTERM" },
    ]);
    expect(stateOf(r.model, "stopping")).toMatchObject({ then: { kind: "after-crash" }, status: code(3), exitedAt: 250, token: 1 });
    expect(r.model.ctx.lastExit).toEqual(code(3));
  });

  it("app-exited with code 0 is logged at info", () => {
    const r = feed([...RUNNING, ev.exited(100, code(0), 250)]);
    expect(logs(r.last, "app-exited")[0]?.level).toBe("info");
  });

  it("app-exited for another pid is ignored", () => {
    const before = feed(RUNNING).model;
    const step = transition(before, ev.exited(4242, code(1), 10), POLICY);
    expect(step.model).toBe(before);
    expect(step.effects).toEqual([]);
  });
});

describe("machine: stopping", () => {
  it.each([
    ["restart, group scope", [ev.restart("signal", 10)], {}],
    ["stop SIGTERM, group scope", [ev.stop("SIGTERM", 10)], {}],
    ["internal error, group scope", [ev.internal("boom", 10)], {}],
    ["stop SIGINT, group scope", [ev.stop("SIGINT", 10)], {}],
    ["stop SIGINT, then an internal error", [ev.stop("SIGINT", 10), ev.internal("boom", 11)], {}],
    ["stop SIGQUIT, group scope", [ev.stop("SIGQUIT", 10)], {}],
    ["stop SIGTERM, child scope", [ev.stop("SIGTERM", 10)], { signalScope: "child" as const }],
    ["restart, child scope", [ev.restart("signal", 10)], { signalScope: "child" as const }],
  ])("app-exited after %s -> SIGTERM to every leftover, group members included", (_name, events, over) => {
    // A process forked just after the group signal never got it: leftovers all get SIGTERM.
    const r = feed([...RUNNING, ...events, ev.exited(100, sig("SIGTERM"), 6000)], { policy: policy(over) });
    expect(acts(r.last)).toEqual([{ type: "sweep", signal: "SIGTERM" }]);
    expect(stateOf(r.model, "stopping")).toMatchObject({ status: sig("SIGTERM"), exitedAt: 6000 });
    expect(r.model.ctx.lastExit).toEqual(sig("SIGTERM"));
  });

  it.each([
    ["stop SIGTERM, then the deadline killed", [ev.stop("SIGTERM", 10), ev.timer("stop-deadline", 1, 5010)], {}],
    ["stop SIGTERM, then a second SIGTERM killed", [ev.stop("SIGTERM", 10), ev.stop("SIGTERM", 11)], {}],
    ["restart, then the deadline killed", [ev.restart("signal", 10), ev.timer("stop-deadline", 1, 5010)], {}],
    ["stop SIGINT, then a second SIGINT killed, child scope", [ev.stop("SIGINT", 10), ev.stop("SIGINT", 11)], { signalScope: "child" as const }],
  ])("app-exited after %s -> the sweep after the kill is SIGKILL", (_name, events, over) => {
    // Once SIGKILL went out, a process forked during the kill passes must get SIGKILL as well:
    // SIGTERM would leave it to a kill grace that no longer kills.
    const r = feed([...RUNNING, ...events, ev.exited(100, sig("SIGKILL"), 6000)], { policy: policy(over) });
    expect(acts(r.last)).toEqual([{ type: "sweep", signal: "SIGKILL" }]);
    expect(stateOf(r.model, "stopping")).toMatchObject({ status: sig("SIGKILL"), exitedAt: 6000, killed: true });
  });

  it("tree-empty before the app exited is ignored", () => {
    const before = feed([...RUNNING, ev.restart("signal", 10)]).model;
    const step = transition(before, ev.empty(20), POLICY);
    expect(step.model).toBe(before);
    expect(step.effects).toEqual([]);
  });

  it("a second app-exited for the same generation is ignored", () => {
    const before = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.exited(100, sig("SIGTERM"), 20)]).model;
    const step = transition(before, ev.exited(100, code(0), 30), POLICY);
    expect(step.model).toBe(before);
    expect(step.effects).toEqual([]);
  });

  it("tree-empty after a restart stop -> cancel the stop timers and spawn the next generation", () => {
    const r = feed([...RUNNING, ev.restart("signal", 10), ev.exited(100, sig("SIGTERM"), 20), ev.empty(30)]);
    expect(r.last).toEqual([...CANCEL_STOP_TIMERS, { type: "spawn", generation: 2 }]);
    expect(stateOf(r.model, "starting").restart).toEqual({
      source: "signal", oldPid: 100, oldStatus: sig("SIGTERM"), requestedAt: 10, exitedAt: 20,
    });
  });

  it("tree-empty after a stop -> exit with the app's status", () => {
    const r = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.exited(100, code(0), 20), ev.empty(30)]);
    expect(r.last).toEqual([...CANCEL_STOP_TIMERS, { type: "exit", outcome: { kind: "app-exited", status: code(0) } }]);
    expect(stateOf(r.model, "exited").outcome).toEqual({ kind: "app-exited", status: code(0) });
  });

  it("tree-empty after a crash -> backoff", () => {
    const r = feed([...RUNNING, ev.exited(100, code(1), 20), ev.empty(30)]);
    const b = stateOf(r.model, "backoff");
    expect(acts(r.last)).toEqual([...CANCEL_STOP_TIMERS, { type: "set-timer", name: "backoff", ms: 100, token: 2 }]);
    expect(b).toEqual({
      kind: "backoff", token: 2, delayMs: 100, last: code(1),
      restart: { source: "crash", oldPid: 100, oldStatus: code(1), requestedAt: 20, exitedAt: 20 },
    });
  });

  it("restart-requested during a crash cleanup -> respawn at once, no backoff and no crash counted", () => {
    const r = feed([...RUNNING, ev.exited(100, code(1), 20), ev.restart("watch", 25, "a.py"), ev.empty(30), ev.spawned(200, 40)]);
    expect(r.steps[4]).toEqual([...CANCEL_STOP_TIMERS, { type: "spawn", generation: 2 }]);
    expect(logs(r.last, "restart")[0]?.fields).toMatchObject({ source: "watch", detail: "a.py", oldPid: 100, oldStatus: "exit 1", newPid: 200 });
    expect(r.model.ctx.crashes).toEqual([]);
  });

  it("restart-requested during a stop is ignored; the stop ends in exit", () => {
    const r = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.restart("signal", 11), ev.exited(100, code(0), 20), ev.empty(30)]);
    expect(acts(r.steps[3] ?? [])).toEqual([]);
    expect(logs(r.steps[3] ?? [], "restart-ignored")).toHaveLength(1);
    expect(ofType(r.effects, "spawn")).toEqual([{ type: "spawn", generation: 1 }]);
    expect(ofType(r.effects, "exit")).toEqual([{ type: "exit", outcome: { kind: "app-exited", status: code(0) } }]);
  });

  it.each([
    ["SIGWINCH", "SIGWINCH"],
    ["SIGTSTP", "SIGTSTP"],
  ])("forward-signal(%s) while the app is still stopping -> %s", (received, sent) => {
    const r = feed([...RUNNING, ev.restart("signal", 10), ev.forward(received, 11)]);
    expect(acts(r.last)).toEqual([{ type: "signal", pid: 100, signal: sent, scope: "group" }]);
  });

  it("forward-signal after the app exited or after SIGKILL is dropped", () => {
    const exited = feed([...RUNNING, ev.restart("signal", 10), ev.exited(100, sig("SIGTERM"), 20), ev.forward("SIGHUP", 21)]);
    expect(exited.last).toEqual([]);
    const killed = feed([...RUNNING, ev.restart("signal", 10), ev.timer("stop-deadline", 1, 5010), ev.forward("SIGHUP", 5011)]);
    expect(killed.last).toEqual([]);
  });
});

describe("machine: coalescing restarts", () => {
  it("restart requests during a restart are satisfied by its spawn: no second restart", () => {
    const r = feed([
      ...RUNNING,
      ev.restart("signal", 10),
      ev.restart("trigger-file", 11),
      ev.restart("watch", 12),
      ev.restart("control", 13),
    ]);
    // Only the first stops the app; the others are satisfied by the spawn that restart ends with,
    // which loads the newest files anyway: one more restart would kill generation 2 mid-boot.
    expect(ofType(r.effects, "signal")).toHaveLength(1);
    for (const step of r.steps.slice(3)) expect(acts(step)).toEqual([]);
    for (const step of r.steps.slice(3)) expect(logs(step, "restart-coalesced")).toHaveLength(1);

    const gen2 = feed([ev.exited(100, sig("SIGTERM"), 20), ev.empty(30), ev.spawned(200, 40)], { from: r.model });
    expect(logs(gen2.last, "restart")[0]?.fields).toMatchObject({ source: "signal", oldPid: 100, newPid: 200 });
    expect(acts(gen2.last)).toEqual([]);
    expect(stateOf(gen2.model, "running")).toEqual({ kind: "running", generation: 2, pid: 200, startedAt: 40, byChange: true });
    expect(gen2.model.ctx.restarts).toBe(1);
  });

  it("a restart request after the next generation was spawned gives one more restart", () => {
    const r = feed([...RUNNING, ev.restart("signal", 10), ev.exited(100, sig("SIGTERM"), 20), ev.empty(30)]);
    // The spawn effect went out; its 'spawned' answer is still queued behind this request.
    const during = feed([ev.restart("trigger-file", 31), ev.restart("watch", 32)], { from: r.model });
    expect(stateOf(during.model, "starting").pending).toEqual({ source: "trigger-file" });
    const spawned2 = feed([ev.spawned(200, 40)], { from: during.model });
    expect(acts(spawned2.last)).toEqual([
      { type: "signal", pid: 200, signal: "SIGTERM", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 2 },
    ]);
    expect(logs(spawned2.last, "restart-requested")[0]?.fields).toEqual({ source: "trigger-file", pid: 200 });
    expect(stateOf(spawned2.model, "stopping")).toMatchObject({ pid: 200, then: { kind: "respawn", request: { source: "trigger-file" } } });

    // Generation 3 then runs undisturbed.
    const gen3 = feed([ev.exited(200, sig("SIGTERM"), 50), ev.empty(60), ev.spawned(300, 70)], { from: spawned2.model });
    expect(acts(gen3.effects)).toEqual([
      { type: "sweep", signal: "SIGTERM" },
      ...CANCEL_STOP_TIMERS,
      { type: "spawn", generation: 3 },
    ]);
    expect(stateOf(gen3.model, "running")).toEqual({ kind: "running", generation: 3, pid: 300, startedAt: 70, byChange: true });
    expect(gen3.model.ctx.restarts).toBe(2);
  });

  it("a stop during a restart whose app was already SIGKILLed switches to exit without signalling", () => {
    const r = feed([...RUNNING, ev.restart("signal", 10), ev.timer("stop-deadline", 1, 5010), ev.stop("SIGINT", 5011)]);
    expect(acts(r.last)).toEqual([]);
    expect(stateOf(r.model, "stopping")).toMatchObject({ killed: true, then: { kind: "exit", signal: "SIGINT" } });
  });

  it("a stop during a restart switches it to exit: no respawn", () => {
    const r = feed([
      ...RUNNING, ev.restart("signal", 10), ev.restart("watch", 11), ev.stop("SIGTERM", 12),
      ev.exited(100, sig("SIGTERM"), 20), ev.empty(30),
    ]);
    expect(acts(r.steps[4] ?? [])).toEqual([{ type: "signal", pid: 100, signal: "SIGTERM", scope: "group" }]);
    expect(r.last).toEqual([...CANCEL_STOP_TIMERS, { type: "exit", outcome: { kind: "app-exited", status: sig("SIGTERM") } }]);
    expect(ofType(r.effects, "spawn")).toEqual([{ type: "spawn", generation: 1 }]);
  });
});

describe("machine: impatient stops and the stop deadline", () => {
  const KILL: Effect[] = [
    { type: "kill-tree", pid: 100 },
    { type: "cancel-timer", name: "stop-deadline" },
    { type: "set-timer", name: "kill-grace", ms: 2000, token: 1 },
  ];

  it.each([
    ["SIGTERM", "SIGTERM"],
    ["SIGINT", "SIGINT"],
    ["SIGTERM", "SIGINT"],
    ["SIGINT", "SIGTERM"],
    ["SIGQUIT", "SIGTERM"],
  ])("%s then %s -> kill the tree now", (first, second) => {
    const r = feed([...RUNNING, ev.stop(first, 10), ev.stop(second, 11)]);
    expect(acts(r.last)).toEqual(KILL);
    expect(logs(r.last, "kill-now")[0]?.level).toBe("warn");
    expect(stateOf(r.model, "stopping").killed).toBe(true);
  });

  it("SIGTERM during a restart, then another SIGTERM -> kill the tree", () => {
    const r = feed([...RUNNING, ev.restart("signal", 10), ev.stop("SIGTERM", 11), ev.stop("SIGTERM", 12)]);
    expect(acts(r.last)).toEqual(KILL);
  });

  it.each(["SIGTERM", "SIGQUIT"])("%s then SIGQUIT -> SIGQUIT is forwarded, nothing killed", (first) => {
    const r = feed([...RUNNING, ev.stop(first, 10), ev.stop("SIGQUIT", 11)]);
    expect(acts(r.last)).toEqual([{ type: "signal", pid: 100, signal: "SIGQUIT", scope: "group" }]);
    expect(stateOf(r.model, "stopping").killed).toBe(false);
  });

  it("a third SIGTERM after the kill does not kill again", () => {
    const r = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.stop("SIGTERM", 11), ev.stop("SIGTERM", 12)]);
    expect(ofType(r.last, "kill-tree")).toEqual([]);
    expect(ofType(r.effects, "kill-tree")).toHaveLength(1);
  });

  it("a second SIGTERM after the app exited still kills its leftovers", () => {
    const r = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.exited(100, code(0), 20), ev.stop("SIGTERM", 21)]);
    expect(acts(r.last)).toEqual(KILL);
  });

  it("stop-deadline with the current token -> kill-tree and a kill-grace timer; the line asks about the living app", () => {
    const r = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.timer("stop-deadline", 1, 5010)]);
    expect(r.last).toEqual([
      { type: "log", level: "warn", event: "stop-timeout", fields: { pid: 100, stopTimeoutMs: 5000 }, about: { pid: 100, signal: "SIGTERM" } },
      ...KILL,
    ]);
  });

  it("stop-deadline after the app exited (its leftovers linger) -> the same kill, nothing to ask the app", () => {
    const r = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.exited(100, code(0), 20), ev.timer("stop-deadline", 1, 5010)]);
    expect(r.last).toEqual([
      { type: "log", level: "warn", event: "stop-timeout", fields: { pid: 100, stopTimeoutMs: 5000 } },
      ...KILL,
    ]);
  });

  it("a stale stop-deadline (an earlier generation's token) is ignored", () => {
    const before = feed([
      ...RUNNING, ev.restart("signal", 10), ev.exited(100, sig("SIGTERM"), 20), ev.empty(30),
      ev.spawned(200, 40), ev.stop("SIGTERM", 50),
    ]).model;
    expect(stateOf(before, "stopping").token).toBe(2);
    const stale = transition(before, ev.timer("stop-deadline", 1, 5010), POLICY);
    expect(stale.model).toBe(before);
    expect(stale.effects).toEqual([]);
    const current = transition(before, ev.timer("stop-deadline", 2, 5050), POLICY);
    expect(acts(current.effects)).toEqual([
      { type: "kill-tree", pid: 200 },
      { type: "cancel-timer", name: "stop-deadline" },
      { type: "set-timer", name: "kill-grace", ms: 2000, token: 2 },
    ]);
  });

  it("after the kill, the tree emptying ends the stop as usual", () => {
    const r = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.timer("stop-deadline", 1, 5010), ev.exited(100, sig("SIGKILL"), 5011), ev.empty(5012)]);
    expect(r.last).toEqual([...CANCEL_STOP_TIMERS, { type: "exit", outcome: { kind: "app-exited", status: sig("SIGKILL") } }]);
  });

  it("kill-grace while the app never reported its exit -> carry on as if it died of SIGKILL", () => {
    const r = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.timer("stop-deadline", 1, 5010), ev.timer("kill-grace", 1, 7010)]);
    expect(logs(r.last, "leftovers-survived-kill")[0]?.level).toBe("error");
    expect(acts(r.last)).toEqual([{ type: "kill-tree", pid: 100 }, ...CANCEL_STOP_TIMERS, { type: "exit", outcome: { kind: "app-exited", status: sig("SIGKILL") } }]);
    expect(exitCode({ kind: "app-exited", status: sig("SIGKILL") })).toBe(137);
  });

  it("kill-grace after the app exited -> carry on with its real status", () => {
    const r = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.exited(100, code(0), 20), ev.timer("stop-deadline", 1, 5010), ev.timer("kill-grace", 1, 7010)]);
    expect(acts(r.last)).toEqual([{ type: "kill-tree", pid: 100 }, ...CANCEL_STOP_TIMERS, { type: "exit", outcome: { kind: "app-exited", status: code(0) } }]);
  });

  it("kill-grace during a restart -> the next generation is spawned", () => {
    const r = feed([...RUNNING, ev.restart("signal", 10), ev.timer("stop-deadline", 1, 5010), ev.timer("kill-grace", 1, 7010)]);
    expect(acts(r.last)).toEqual([{ type: "kill-tree", pid: 100 }, ...CANCEL_STOP_TIMERS, { type: "spawn", generation: 2 }]);
  });

  it.each([
    ["after the deadline, app never reported", [ev.stop("SIGTERM", 10), ev.timer("stop-deadline", 1, 5010)]],
    ["after a second SIGTERM, app exited", [ev.stop("SIGTERM", 10), ev.stop("SIGTERM", 11), ev.exited(100, sig("SIGKILL"), 12)]],
    ["after a crash cleanup's deadline", [ev.exited(100, code(3), 10), ev.timer("stop-deadline", 1, 5010)]],
    ["during a restart, after a second stop signal", [ev.restart("signal", 10), ev.stop("SIGTERM", 11), ev.stop("SIGINT", 12)]],
  ])("kill grace kills again before giving up (%s)", (_name, events) => {
    // A process forked while the kill passes ran got no SIGKILL: the grace must not just wait.
    const r = feed([...RUNNING, ...events, ev.timer("kill-grace", 1, 7010)]);
    const a = acts(r.last);
    expect(a[0]).toEqual({ type: "kill-tree", pid: 100 });
    expect(a.slice(1, 3)).toEqual(CANCEL_STOP_TIMERS);
    expect(r.model.state.kind).not.toBe("stopping");
  });

  it("kill-grace with a stale token is ignored", () => {
    const before = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.timer("stop-deadline", 1, 5010)]).model;
    const step = transition(before, ev.timer("kill-grace", 7, 7010), POLICY);
    expect(step.model).toBe(before);
    expect(step.effects).toEqual([]);
  });
});

/** Crash the app once per entry of `uptimes`: each generation runs that long, exits with code i,
 *  its tree empties 10 ms later, and the backoff timer fires `gap` ms after the delay asked for. */
function crashLoop(uptimes: number[], p: Policy, gap = 0): { run: Run; delays: number[]; crashTimes: number[] } {
  let run = feed([ev.start(0)], { policy: p });
  let t = 0;
  const delays: number[] = [];
  const crashTimes: number[] = [];
  for (const [i, uptime] of uptimes.entries()) {
    const pid = 100 + i;
    run = feed([ev.spawned(pid, t), ev.exited(pid, code(i + 1), t + uptime), ev.empty(t + uptime + 10)], { from: run.model, policy: p });
    t += uptime + 10;
    crashTimes.push(t);
    if (run.model.state.kind !== "backoff") break;
    const { token, delayMs } = run.model.state;
    expect(acts(run.last)).toEqual([...CANCEL_STOP_TIMERS, { type: "set-timer", name: "backoff", ms: delayMs, token }]);
    delays.push(delayMs);
    t += delayMs + gap;
    run = feed([ev.timer("backoff", token, t)], { from: run.model, policy: p });
    expect(run.last).toEqual([{ type: "spawn", generation: i + 2 }]);
  }
  return { run, delays, crashTimes };
}

describe("machine: crash policy", () => {
  it("--restart never -> exit with the app's status", () => {
    const r = feed([...RUNNING, ev.exited(100, code(3), 20), ev.empty(30)], { policy: policy({ restart: "never" }) });
    expect(r.last).toEqual([...CANCEL_STOP_TIMERS, { type: "exit", outcome: { kind: "app-exited", status: code(3) } }]);
  });

  it("--restart never, killed by a signal -> exit with that status", () => {
    const r = feed([...RUNNING, ev.exited(100, sig("SIGSEGV"), 20), ev.empty(30)], { policy: policy({ restart: "never" }) });
    expect(acts(r.last)).toContainEqual({ type: "exit", outcome: { kind: "app-exited", status: sig("SIGSEGV") } });
  });

  it("--restart on-failure, exit 0 -> exit 0", () => {
    const r = feed([...RUNNING, ev.exited(100, code(0), 20), ev.empty(30)]);
    expect(r.last).toEqual([...CANCEL_STOP_TIMERS, { type: "exit", outcome: { kind: "app-exited", status: code(0) } }]);
  });

  it("--restart always, exit 0 -> backoff", () => {
    const r = feed([...RUNNING, ev.exited(100, code(0), 20), ev.empty(30)], { policy: policy({ restart: "always" }) });
    expect(stateOf(r.model, "backoff").last).toEqual(code(0));
  });

  it("--restart on-failure, killed by a signal -> backoff", () => {
    const r = feed([...RUNNING, ev.exited(100, sig("SIGKILL"), 20), ev.empty(30)]);
    expect(stateOf(r.model, "backoff").last).toEqual(sig("SIGKILL"));
  });

  it("backoff doubles from backoffInitialMs and is capped at backoffMaxMs", () => {
    const { delays, run } = crashLoop([5, 5, 5, 5, 5, 5, 5], policy({ maxRestarts: 10 }));
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(run.model.state.kind).toBe("starting");
  });

  it("after the backoff the next spawn logs a restart with source 'crash'", () => {
    const { run } = crashLoop([5], POLICY);
    const r = feed([ev.spawned(555, 500)], { from: run.model });
    expect(logs(r.last, "restart")[0]?.fields).toMatchObject({ source: "crash", oldPid: 100, oldStatus: "exit 1", newPid: 555, generation: 2 });
    expect(r.model.ctx.restarts).toBe(1);
    expect(r.model.ctx.lastRestartReason).toBe("crash");
  });

  it("more than maxRestarts crashes within the window -> gave-up with the last status", () => {
    const { delays, run } = crashLoop([5, 5, 5, 5, 5], POLICY);
    expect(delays).toEqual([100, 200, 400]);
    const outcome = { kind: "gave-up" as const, status: code(4), restarts: 3 };
    expect(acts(run.last)).toEqual([...CANCEL_STOP_TIMERS, { type: "exit", outcome }]);
    expect(logs(run.last, "gave-up")[0]).toMatchObject({ level: "error", fields: { status: "exit 4", crashes: 4, maxRestarts: 3 } });
    expect(stateOf(run.model, "exited").outcome).toEqual(outcome);
    expect(exitCode(outcome)).toBe(4);
  });

  it("--max-restarts 0 gives up on the first crash", () => {
    const r = feed([...RUNNING, ev.exited(100, code(2), 20), ev.empty(30)], { policy: policy({ maxRestarts: 0 }) });
    expect(acts(r.last)).toContainEqual({ type: "exit", outcome: { kind: "gave-up", status: code(2), restarts: 0 } });
  });

  it("crashes further apart than the window never add up", () => {
    const { delays, run } = crashLoop(Array(8).fill(5), policy({ restartWindowMs: 1000 }), 2000);
    expect(delays).toEqual(Array(8).fill(100));
    expect(run.model.state.kind).toBe("starting");
  });

  it.each([
    [1019, "exited"],
    [1020, "backoff"],
  ])("with a 1000 ms window, a crash at 20 still counts at %i -> %s", (secondCrashAt, kind) => {
    const p = policy({ maxRestarts: 1, restartWindowMs: 1000 });
    const first = feed([...RUNNING, ev.exited(100, code(1), 10), ev.empty(20)], { policy: p });
    const { token } = stateOf(first.model, "backoff");
    const r = feed([ev.timer("backoff", token, 120), ev.spawned(101, 120), ev.exited(101, code(2), secondCrashAt - 10), ev.empty(secondCrashAt)], {
      from: first.model, policy: p,
    });
    expect(r.model.state.kind).toBe(kind);
    if (kind === "backoff") expect(r.model.ctx.crashes).toEqual([secondCrashAt]);
    else expect(acts(r.last)).toContainEqual({ type: "exit", outcome: { kind: "gave-up", status: code(2), restarts: 1 } });
  });

  it("an app that stayed up backoffResetMs resets the backoff and the crash count", () => {
    const { delays, run } = crashLoop([5, 5, 5, 10_000], POLICY);
    expect(delays).toEqual([100, 200, 400, 100]);
    expect(run.model.ctx.crashes).toHaveLength(1);
  });

  it("an app that stayed up just under backoffResetMs does not", () => {
    expect(crashLoop([5, 5, 5, 9_999], policy({ maxRestarts: 10 })).delays).toEqual([100, 200, 400, 800]);
    expect(crashLoop([5, 5, 5, 9_999], POLICY).run.model.state.kind).toBe("exited");
  });
});

describe("machine: backoff", () => {
  const BACKOFF: Event[] = [...RUNNING, ev.exited(100, code(1), 10), ev.empty(20)];

  it("the backoff timer with the right token -> spawn", () => {
    const r = feed([...BACKOFF, ev.timer("backoff", 2, 120)]);
    expect(r.last).toEqual([{ type: "spawn", generation: 2 }]);
  });

  it.each([
    ["a stale token", ev.timer("backoff", 1, 120)],
    ["another timer's name", ev.timer("stop-deadline", 2, 120)],
  ])("a backoff timer with %s is ignored", (_name, event) => {
    const before = feed(BACKOFF).model;
    const step = transition(before, event, POLICY);
    expect(step.model).toBe(before);
    expect(step.effects).toEqual([]);
  });

  it("restart-requested -> cancel the backoff and spawn now", () => {
    const r = feed([...BACKOFF, ev.restart("control", 50)]);
    expect(r.last).toEqual([{ type: "cancel-timer", name: "backoff" }, { type: "spawn", generation: 2 }]);
    const s = feed([ev.spawned(101, 60), ev.timer("backoff", 2, 120)], { from: r.model });
    expect(logs(s.steps[0] ?? [], "restart")[0]?.fields).toEqual({
      source: "control", oldPid: 100, oldStatus: "exit 1", newPid: 101, generation: 2, downMs: 50, totalMs: 10,
    });
    // The cancelled timer firing late changes nothing.
    expect(s.last).toEqual([]);
    expect(stateOf(s.model, "running").pid).toBe(101);
  });

  it("stop-requested -> cancel the backoff and exit stopped-idle with the last status", () => {
    const r = feed([...BACKOFF, ev.stop("SIGTERM", 50)]);
    const outcome = { kind: "stopped-idle" as const, signal: "SIGTERM", last: code(1) };
    expect(r.last).toEqual([{ type: "cancel-timer", name: "backoff" }, { type: "exit", outcome }]);
    expect(exitCode(outcome)).toBe(1);
  });
});

describe("machine: draining (--listen with a TCP socket)", () => {
  const DRAIN = policy({ drain: true });
  const DRAINING: Event[] = [...RUNNING, ev.restart("trigger-file", 10)];
  const END_DRAIN: Effect[] = [{ type: "end-drain" }, { type: "cancel-timer", name: "drain-deadline" }];

  it("restart-requested -> draining: no signal yet, a drain and its deadline, before the log line", () => {
    const r = feed(DRAINING, { policy: DRAIN });
    expect(r.last).toEqual([
      { type: "drain", token: 1, pid: 100 },
      { type: "set-timer", name: "drain-deadline", ms: 5000, token: 1 },
      { type: "log", level: "info", event: "restart-requested", fields: { source: "trigger-file", pid: 100 } },
    ]);
    expect(stateOf(r.model, "draining")).toMatchObject({ pid: 100, generation: 1, request: { source: "trigger-file" }, requestedAt: 10, token: 1 });
  });

  it("drained -> SIGTERM and the stop deadline; the restart is timed from the request, not from the signal", () => {
    const r = feed([...DRAINING, ev.drained(1, 0, 17)], { policy: DRAIN });
    expect(acts(r.last)).toEqual([
      ...END_DRAIN,
      { type: "signal", pid: 100, signal: "SIGTERM", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 2 },
    ]);
    expect(logs(r.last, "drained")).toEqual([{ type: "log", level: "debug", event: "drained", fields: { pid: 100, ms: 5 } }]);
    expect(stateOf(r.model, "stopping")).toMatchObject({ then: { kind: "respawn", request: { source: "trigger-file" } }, requestedAt: 10, token: 2 });
    const next = feed([ev.exited(100, sig("SIGTERM"), 20), ev.empty(21), ev.spawned(200, 30)], { from: r.model, policy: DRAIN });
    expect(logs(next.last, "restart")[0]?.fields).toMatchObject({ source: "trigger-file", oldPid: 100, newPid: 200, totalMs: 20 });
  });

  it("a drain that left connections unaccepted is logged as a warning, then the stop goes on", () => {
    const r = feed([...DRAINING, ev.drained(1, 3, 520)], { policy: DRAIN });
    expect(logs(r.last, "drained")[0]).toMatchObject({ level: "warn", fields: { notAccepted: 3 } });
    expect(ofType(r.last, "signal")).toHaveLength(1);
  });

  it("a drain that stopped waiting for accepted connections to be read is a warning too, then the stop goes on", () => {
    const r = feed([...DRAINING, ev.drained(1, 0, 520, 505, 2)], { policy: DRAIN });
    expect(logs(r.last, "drained")).toEqual([{ type: "log", level: "warn", event: "drained", fields: { pid: 100, ms: 505, unread: 2 } }]);
    expect(ofType(r.last, "signal")).toHaveLength(1);
  });

  it("the drain deadline -> stop anyway", () => {
    const r = feed([...DRAINING, ev.timer("drain-deadline", 1, 5010)], { policy: DRAIN });
    expect(acts(r.last)).toEqual([
      ...END_DRAIN,
      { type: "signal", pid: 100, signal: "SIGTERM", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 2 },
    ]);
    expect(logs(r.last, "drain-timeout")[0]).toMatchObject({ level: "warn", fields: { pid: 100, ms: 5000 } });
  });

  it("a stale drained or drain-deadline (another token), and other timers, are ignored", () => {
    const before = feed(DRAINING, { policy: DRAIN }).model;
    for (const event of [ev.drained(7), ev.timer("drain-deadline", 7), ev.timer("stop-deadline", 1), ev.timer("backoff", 1), ev.empty(), ev.spawned(200), ev.start(), ev.exited(999, code(1))]) {
      const step = transition(before, event, DRAIN);
      expect(step.model, event.type).toBe(before);
      expect(step.effects, event.type).toEqual([]);
    }
  });

  it("restart requests during the drain are satisfied by the restart under way", () => {
    const r = feed([...DRAINING, ev.restart("signal", 11), ev.restart("watch", 12), ev.drained(1, 0, 15), ev.exited(100, sig("SIGTERM"), 20), ev.empty(21), ev.spawned(200, 30)], { policy: DRAIN });
    // One more restart would drain generation 2 right after its spawn.
    expect(stateOf(r.model, "running")).toMatchObject({ pid: 200, generation: 2 });
    expect(ofType(r.effects, "spawn")).toHaveLength(2);
  });

  it("a stop during the drain ends it and signals at once; no respawn", () => {
    const r = feed([...DRAINING, ev.stop("SIGINT", 12)], { policy: DRAIN });
    expect(acts(r.last)).toEqual([
      ...END_DRAIN,
      { type: "signal", pid: 100, signal: "SIGINT", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 2 },
    ]);
    const done = feed([ev.exited(100, code(0), 20), ev.empty(21)], { from: r.model, policy: DRAIN });
    expect(done.last).toEqual([...CANCEL_STOP_TIMERS, { type: "exit", outcome: { kind: "app-exited", status: code(0) } }]);
  });

  it("signals to forward still reach the app while it drains", () => {
    const r = feed([...DRAINING, ev.forward("SIGHUP", 12)], { policy: DRAIN });
    expect(acts(r.last)).toEqual([{ type: "signal", pid: 100, signal: "SIGHUP", scope: "group" }]);
  });

  it("the app exits by itself during the drain -> the requested restart, no backoff and no crash counted", () => {
    const r = feed([...DRAINING, ev.exited(100, code(1), 12)], { policy: DRAIN });
    expect(acts(r.last)).toEqual([
      ...END_DRAIN,
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 2 },
      { type: "sweep", signal: "SIGTERM" },
    ]);
    const next = feed([ev.empty(13)], { from: r.model, policy: DRAIN });
    expect(acts(next.last)).toEqual([...CANCEL_STOP_TIMERS, { type: "spawn", generation: 2 }]);
    expect(next.model.ctx.crashes).toEqual([]);
    const up = feed([ev.spawned(200, 20)], { from: next.model, policy: DRAIN });
    expect(logs(up.last, "restart")[0]?.fields).toMatchObject({ source: "trigger-file", oldStatus: "exit 1", totalMs: 10 });
  });

  it("an internal error during the drain ends it and stops the app; then exit internal-error", () => {
    const r = feed([...DRAINING, ev.internal("boom", 12)], { policy: DRAIN });
    expect(acts(r.last)).toEqual([
      ...END_DRAIN,
      { type: "signal", pid: 100, signal: "SIGTERM", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 2 },
    ]);
    const done = feed([ev.exited(100, sig("SIGTERM"), 20), ev.empty(21)], { from: r.model, policy: DRAIN });
    expect(done.last).toEqual([...CANCEL_STOP_TIMERS, { type: "exit", outcome: { kind: "internal-error", message: "boom" } }]);
  });

  it("crash restarts and restarts from backoff never drain: nothing runs to drain", () => {
    const r = feed([...RUNNING, ev.exited(100, code(1), 10), ev.empty(11), ev.restart("signal", 12)], { policy: DRAIN });
    expect(ofType(r.effects, "drain")).toEqual([]);
    expect(acts(r.last)).toEqual([{ type: "cancel-timer", name: "backoff" }, { type: "spawn", generation: 2 }]);
  });
});

describe("machine: internal errors", () => {
  it("while running -> stop the app with SIGTERM, then exit internal-error", () => {
    const r = feed([...RUNNING, ev.internal("boom", 10)]);
    expect(r.last).toEqual([
      { type: "signal", pid: 100, signal: "SIGTERM", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 1 },
      { type: "log", level: "error", event: "internal-error", fields: { message: "boom" } },
    ]);
    const done = feed([ev.exited(100, sig("SIGTERM"), 20), ev.empty(30)], { from: r.model });
    const outcome = { kind: "internal-error" as const, message: "boom" };
    expect(done.last).toEqual([...CANCEL_STOP_TIMERS, { type: "exit", outcome }]);
    expect(exitCode(outcome)).toBe(1);
  });

  it("while stopping for a restart -> no respawn, exit internal-error", () => {
    const r = feed([...RUNNING, ev.restart("signal", 10), ev.internal("boom", 11), ev.exited(100, sig("SIGTERM"), 20), ev.empty(30)]);
    expect(acts(r.steps[3] ?? [])).toEqual([]);
    expect(r.last).toEqual([...CANCEL_STOP_TIMERS, { type: "exit", outcome: { kind: "internal-error", message: "boom" } }]);
    expect(ofType(r.effects, "spawn")).toHaveLength(1);
  });

  it.each([
    ["idle", []],
    ["starting", [ev.start(0)]],
    ["backoff", [...RUNNING, ev.exited(100, code(1), 10), ev.empty(20)]],
  ])("while %s (no app running) -> exit internal-error at once", (_name, events) => {
    const r = feed([...events, ev.internal("boom", 50)]);
    expect(acts(r.last)).toEqual([
      { type: "cancel-timer", name: "backoff" },
      { type: "exit", outcome: { kind: "internal-error", message: "boom" } },
    ]);
  });
});

describe("machine: ignored events", () => {
  const SETUPS: Record<string, Event[]> = {
    idle: [],
    starting: [ev.start(0)],
    running: RUNNING,
    "stopping(respawn)": [...RUNNING, ev.restart("signal", 10)],
    "stopping(after-crash)": [...RUNNING, ev.exited(100, code(1), 10)],
    backoff: [...RUNNING, ev.exited(100, code(1), 10), ev.empty(20)],
  };
  const cases: [string, string, Event][] = [
    ["idle", "spawned", ev.spawned(100, 1)],
    ["idle", "spawn-failed", ev.spawnFailed("ENOENT", 1)],
    ["idle", "app-exited", ev.exited(100, code(1), 1)],
    ["idle", "tree-empty", ev.empty(1)],
    ["idle", "restart-requested", ev.restart("signal", 1)],
    ["idle", "forward-signal", ev.forward("SIGHUP", 1)],
    ["idle", "timer", ev.timer("backoff", 1, 1)],
    ["starting", "start", ev.start(1)],
    ["starting", "app-exited", ev.exited(100, code(1), 1)],
    ["starting", "tree-empty", ev.empty(1)],
    ["starting", "timer", ev.timer("stop-deadline", 1, 1)],
    ["running", "start", ev.start(1)],
    ["running", "spawned", ev.spawned(200, 1)],
    ["running", "spawn-failed", ev.spawnFailed("ENOENT", 1)],
    ["running", "tree-empty", ev.empty(1)],
    ["running", "app-exited of another pid", ev.exited(999, code(1), 1)],
    ["running", "timer", ev.timer("stop-deadline", 1, 1)],
    ["stopping(respawn)", "start", ev.start(11)],
    ["stopping(respawn)", "spawned", ev.spawned(200, 11)],
    ["stopping(respawn)", "spawn-failed", ev.spawnFailed("ENOENT", 11)],
    ["stopping(respawn)", "app-exited of another pid", ev.exited(999, code(1), 11)],
    ["stopping(respawn)", "a backoff timer with its token", ev.timer("backoff", 1, 11)],
    ["stopping(after-crash)", "a second app-exited", ev.exited(100, code(2), 11)],
    ["stopping(after-crash)", "forward-signal", ev.forward("SIGHUP", 11)],
    ["backoff", "start", ev.start(21)],
    ["backoff", "spawned", ev.spawned(200, 21)],
    ["backoff", "app-exited", ev.exited(100, code(1), 21)],
    ["backoff", "tree-empty", ev.empty(21)],
    ["backoff", "forward-signal", ev.forward("SIGHUP", 21)],
  ];

  it.each(cases)("%s ignores %s", (state, _what, event) => {
    const before = feed(SETUPS[state] ?? []).model;
    expect(before.state.kind).toBe(state.replace(/\(.*/, ""));
    const step = transition(before, event, POLICY);
    expect(step.model).toBe(before);
    expect(step.effects).toEqual([]);
  });

  const EVERY_EVENT: Event[] = [
    ev.start(100), ev.spawned(200, 100), ev.spawnFailed("ENOENT", 100), ev.exited(100, code(1), 100), ev.empty(100),
    ev.restart("signal", 100), ev.stop("SIGTERM", 100), ev.stop("SIGINT", 100), ev.forward("SIGHUP", 100),
    ev.timer("stop-deadline", 1, 100), ev.timer("kill-grace", 1, 100), ev.timer("backoff", 2, 100), ev.internal("boom", 100),
  ];

  it.each(EVERY_EVENT.map((e) => [e.type, e] as const))("exited ignores %s", (_type, event) => {
    const before = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.exited(100, code(0), 20), ev.empty(30)]).model;
    expect(before.state.kind).toBe("exited");
    const step = transition(before, event, POLICY);
    expect(step.model).toBe(before);
    expect(step.effects).toEqual([]);
  });
});

describe("machine: --stop-signal", () => {
  const QUIT = policy({ stopSignal: "SIGQUIT" });
  const DRAIN_QUIT = policy({ stopSignal: "SIGQUIT", drain: true });
  const signals = (effects: Effect[]) => ofType(effects, "signal").map((e) => e.signal);
  const sweeps = (effects: Effect[]) => ofType(effects, "sweep").map((e) => e.signal);

  // [what, events after RUNNING, policy, signals the app gets at the last event]
  const rows: [string, Event[], Policy, string[]][] = [
    ["a restart sends the stop signal", [ev.restart("signal", 10)], QUIT, ["SIGQUIT"]],
    ["a restart after a drain sends the stop signal", [ev.restart("watch", 10), ev.drained(1, 0, 12)], DRAIN_QUIT, ["SIGQUIT"]],
    ["a drain that timed out sends the stop signal", [ev.restart("watch", 10), ev.timer("drain-deadline", 1, 5010)], DRAIN_QUIT, ["SIGQUIT"]],
    ["an internal error sends the stop signal", [ev.internal("boom", 10)], QUIT, ["SIGQUIT"]],
    ["SIGTERM to pidone is sent as the stop signal", [ev.stop("SIGTERM", 10)], QUIT, ["SIGQUIT"]],
    ["SIGTERM during a drain is sent as the stop signal", [ev.restart("watch", 10), ev.stop("SIGTERM", 11)], DRAIN_QUIT, ["SIGQUIT"]],
    ["SIGTERM during a restart's stop is sent as the stop signal", [ev.restart("signal", 10), ev.stop("SIGTERM", 11)], QUIT, ["SIGQUIT"]],
    ["SIGINT goes as itself", [ev.stop("SIGINT", 10)], QUIT, ["SIGINT"]],
    ["SIGQUIT goes as itself", [ev.stop("SIGQUIT", 10)], policy({ stopSignal: "SIGINT" }), ["SIGQUIT"]],
    ["a second SIGQUIT during the stop goes as itself", [ev.stop("SIGQUIT", 10), ev.stop("SIGQUIT", 11)], policy({ stopSignal: "SIGUSR2" }), ["SIGQUIT"]],
    ["forwarded signals are untouched", [ev.forward("SIGHUP", 10)], QUIT, ["SIGHUP"]],
    ["SIGKILL as the stop signal", [ev.restart("control", 10)], policy({ stopSignal: "SIGKILL" }), ["SIGKILL"]],
    ["the default is SIGTERM", [ev.restart("control", 10)], POLICY, ["SIGTERM"]],
  ];
  it.each(rows)("%s", (_what, events, p, expected) => {
    expect(signals(feed([...RUNNING, ...events], { policy: p }).last)).toEqual(expected);
  });

  it("a SIGTERM to pidone is logged as received, with what was sent", () => {
    const r = feed([...RUNNING, ev.stop("SIGTERM", 10)], { policy: QUIT });
    expect(logs(r.last, "stopping")[0]?.fields).toMatchObject({ signal: "SIGTERM", sent: "SIGQUIT" });
    expect(stateOf(r.model, "stopping").then).toEqual({ kind: "exit", signal: "SIGTERM" });
  });

  it("the sweep of leftovers after the app's exit stays SIGTERM", () => {
    const asked = feed([...RUNNING, ev.restart("signal", 10), ev.exited(100, sig("SIGQUIT"), 20)], { policy: QUIT });
    expect(sweeps(asked.last)).toEqual(["SIGTERM"]);
    const unasked = feed([...RUNNING, ev.exited(100, code(1), 20)], { policy: QUIT });
    expect(sweeps(unasked.last)).toEqual(["SIGTERM"]);
  });

  it.each([
    ["SIGTERM", QUIT, "SIGQUIT"],
    ["SIGINT", QUIT, "SIGINT"],
  ])("at the stop deadline after %s, the line asks how the app stands with what it got", (signal, p, sent) => {
    const r = feed([...RUNNING, ev.stop(signal, 10), ev.timer("stop-deadline", 1, 5010)], { policy: p });
    expect(logs(r.last, "stop-timeout")[0]).toMatchObject({ about: { pid: 100, signal: sent } });
  });

  it("a second SIGTERM still kills at once", () => {
    const r = feed([...RUNNING, ev.stop("SIGTERM", 10), ev.stop("SIGTERM", 11)], { policy: QUIT });
    expect(ofType(r.last, "kill-tree")).toHaveLength(1);
  });
});

describe("machine: --overlap (the next generation starts while the current one serves)", () => {
  const OVERLAP = policy({ drain: true, overlap: true, readyTimeoutMs: 3000 });
  const ready = (token: number, at = 0): Event => ({ type: "next-ready", token, how: "accept", at });
  const gone = (pid: number, at = 0): Event => ({ type: "generation-gone", pid, at });
  const END_READY: Effect[] = [{ type: "end-ready" }, { type: "cancel-timer", name: "ready-deadline" }];
  const END_DRAIN: Effect[] = [{ type: "end-drain" }, { type: "cancel-timer", name: "drain-deadline" }];
  const run = (events: Event[], from?: Model) => feed(events, { policy: OVERLAP, ...(from ? { from } : {}) });
  /** Generation 2 (pid 200) spawned at 20 while 100 serves. */
  const OVERLAPPING: Event[] = [...RUNNING, ev.restart("control", 10), ev.spawned(200, 20)];

  it("restart-requested -> the next generation is spawned first; the current one is not signalled", () => {
    const r = run([...RUNNING, ev.restart("control", 10)]);
    expect(acts(r.last)).toEqual([
      { type: "spawn", generation: 2, next: true },
      { type: "set-timer", name: "ready-deadline", ms: 3000, token: 1 },
    ]);
    expect(logs(r.last, "restart-requested")[0]?.fields).toMatchObject({ overlap: true, pid: 100 });
    const s = run([ev.spawned(200, 20)], r.model);
    expect(acts(s.last)).toEqual([{ type: "await-ready", pid: 200, token: 1 }]);
    expect(stateOf(s.model, "overlapping")).toMatchObject({ pid: 100, next: { generation: 2, pid: 200, startedAt: 20 } });
    // Status still shows the serving generation.
    expect(s.model.ctx.generation).toBe(1);
  });

  it("next-ready -> new connections to it (the drain of the old one), then the old one is signalled, then the restart is done", () => {
    const r = run([...OVERLAPPING, ready(1, 500)]);
    expect(acts(r.last)).toEqual([
      ...END_READY,
      { type: "drain", token: 2, pid: 100, handover: true },
      { type: "set-timer", name: "drain-deadline", ms: 5000, token: 2 },
    ]);
    expect(stateOf(r.model, "handover")).toMatchObject({ pid: 200, generation: 2, old: { pid: 100, phase: "draining" } });
    expect(r.model.ctx.generation).toBe(2);
    const drained = run([ev.drained(2, 0, 510)], r.model);
    expect(acts(drained.last)).toEqual([
      ...END_DRAIN,
      { type: "signal", pid: 100, signal: "SIGTERM", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 2 },
    ]);
    const exited = run([ev.exited(100, code(0), 530)], drained.model);
    expect(acts(exited.last)).toEqual([{ type: "sweep-generation", pid: 100, signal: "SIGTERM" }]);
    // A tree-empty (pidone's whole tree) means nothing here: generation 2 runs.
    expect(run([ev.empty(531)], exited.model).last).toEqual([]);
    const done = run([gone(100, 540)], exited.model);
    expect(acts(done.last)).toEqual(CANCEL_STOP_TIMERS);
    expect(logs(done.last, "restart")[0]?.fields).toMatchObject({
      source: "control", oldPid: 100, oldStatus: "exit 0", newPid: 200, generation: 2, overlap: true, downMs: 0, readyMs: 490, totalMs: 530,
    });
    expect(stateOf(done.model, "running")).toEqual({ kind: "running", generation: 2, pid: 200, startedAt: 20, byChange: true });
    expect(done.model.ctx.restarts).toBe(1);
    expect(ofType(done.effects, "spawn")).toEqual([]);
  });

  it.each([
    ["exits before it is ready", ev.exited(200, code(1), 300), "exited before it was ready", "exit 1"],
    ["is not ready in time", ev.timer("ready-deadline", 1, 3020), "not ready within 3000 ms", null],
  ] as const)("the next generation %s -> it goes, the current one serves on untouched, the failure is reported", (_what, event, reason, status) => {
    const r = run([...OVERLAPPING, event]);
    expect(acts(r.last)).toEqual([...END_READY, { type: "sweep-generation", pid: 200, signal: "SIGKILL" }]);
    expect(ofType(r.effects, "signal")).toEqual([]);
    expect(logs(r.last, "restart-failed")[0]).toMatchObject({ level: "warn", fields: { reason, status, nextPid: 200, servingPid: 100, source: "control" } });
    expect(stateOf(r.model, "running")).toEqual({ kind: "running", generation: 1, pid: 100, startedAt: 0, byChange: false });
    expect(r.model.ctx).toMatchObject({ failedRestarts: 1, lastRestartFailure: { reason }, restarts: 0, generation: 1 });
    // The next request tries again.
    const again = run([ev.restart("watch", 4000)], r.model);
    expect(acts(again.last)).toEqual([
      { type: "spawn", generation: 2, next: true },
      { type: "set-timer", name: "ready-deadline", ms: 3000, token: 2 },
    ]);
  });

  it("a spawn failure of the next generation is a failed restart too", () => {
    const r = run([...RUNNING, ev.restart("signal", 10), ev.spawnFailed("ENOENT", 11)]);
    expect(acts(r.last)).toEqual(END_READY);
    expect(logs(r.last, "restart-failed")[0]?.fields).toMatchObject({ status: "exit 127" });
    expect(stateOf(r.model, "running")).toMatchObject({ pid: 100 });
  });

  it("requests: before the spawn satisfied by it; after, one more restart once this one is over (or failed)", () => {
    const r = run([...RUNNING, ev.restart("control", 10)]);
    expect(stateOf(run([ev.restart("watch", 11)], r.model).model, "overlapping").pending).toBeNull();
    const pend = run([ev.spawned(200, 20), ev.restart("watch", 30), ev.restart("signal", 31)], r.model);
    expect(stateOf(pend.model, "overlapping").pending).toEqual({ source: "watch" });
    const failed = run([ev.exited(200, code(1), 40)], pend.model);
    // The pending request (the fix?) starts a new overlap at once.
    expect(ofType(failed.last, "spawn")).toEqual([{ type: "spawn", generation: 2, next: true }]);
    const ok = run([ready(1, 40), ev.drained(2, 0, 41), ev.exited(100, code(0), 42), gone(100, 43)], pend.model);
    expect(ofType(ok.last, "spawn")).toEqual([{ type: "spawn", generation: 3, next: true }]);
    expect(stateOf(ok.model, "overlapping")).toMatchObject({ pid: 200, next: { generation: 3 } });
  });

  it("a stop while overlapping stops both; the serving one's status is the exit status", () => {
    const r = run([...OVERLAPPING, ev.stop("SIGTERM", 30)]);
    expect(acts(r.last)).toEqual([
      ...END_READY,
      { type: "signal", pid: 200, signal: "SIGTERM", scope: "group" },
      { type: "signal", pid: 100, signal: "SIGTERM", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 2 },
    ]);
    const done = run([ev.exited(200, sig("SIGTERM"), 31), ev.exited(100, code(0), 32), ev.empty(33)], r.model);
    expect(done.last).toEqual([...CANCEL_STOP_TIMERS, { type: "exit", outcome: { kind: "app-exited", status: code(0) } }]);
  });

  it("a stop during the handover stops the new one and the old one", () => {
    const r = run([...OVERLAPPING, ready(1, 40), ev.stop("SIGINT", 41)]);
    expect(acts(r.last)).toEqual([
      ...END_DRAIN,
      { type: "signal", pid: 100, signal: "SIGINT", scope: "group" },
      { type: "signal", pid: 200, signal: "SIGINT", scope: "group" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 3 },
    ]);
    expect(stateOf(r.model, "stopping")).toMatchObject({ pid: 200, then: { kind: "exit", signal: "SIGINT" } });
  });

  it("the serving generation dies while the next one starts -> no overlap: everything swept, then a plain respawn", () => {
    const r = run([...OVERLAPPING, ev.exited(100, code(1), 50)]);
    expect(acts(r.last)).toEqual([
      ...END_READY,
      { type: "sweep-generation", pid: 200, signal: "SIGKILL" },
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 2 },
      { type: "sweep", signal: "SIGTERM" },
    ]);
    const re = run([ev.empty(60)], r.model);
    expect(ofType(re.last, "spawn")).toEqual([{ type: "spawn", generation: 2 }]);
    expect(re.model.ctx.crashes).toEqual([]);
  });

  it("the retiring generation ignores SIGTERM -> its generation is SIGKILLed at the stop deadline; the new one is untouched", () => {
    const r = run([...OVERLAPPING, ready(1, 40), ev.drained(2, 0, 41), ev.timer("stop-deadline", 2, 5041)]);
    expect(acts(r.last)).toEqual([
      { type: "sweep-generation", pid: 100, signal: "SIGKILL" },
      { type: "set-timer", name: "kill-grace", ms: 2000, token: 2 },
    ]);
    const done = run([ev.exited(100, sig("SIGKILL"), 5042), gone(100, 5043)], r.model);
    expect(ofType(done.effects, "sweep-generation")).toEqual([{ type: "sweep-generation", pid: 100, signal: "SIGKILL" }]);
    expect(stateOf(done.model, "running")).toMatchObject({ pid: 200 });
  });

  it("the new generation crashes during the handover -> a crash like any other (everything swept, backoff)", () => {
    const r = run([...OVERLAPPING, ready(1, 40), ev.exited(200, code(3), 45)]);
    expect(acts(r.last)).toEqual([
      ...END_DRAIN,
      { type: "set-timer", name: "stop-deadline", ms: 5000, token: 3 },
      { type: "sweep", signal: "SIGTERM" },
    ]);
    const b = run([ev.empty(50)], r.model);
    expect(stateOf(b.model, "backoff").last).toEqual(code(3));
  });

  it("signals to forward go to the serving generation only", () => {
    expect(acts(run([...OVERLAPPING, ev.forward("SIGHUP", 30)]).last)).toEqual([{ type: "signal", pid: 100, signal: "SIGHUP", scope: "group" }]);
    expect(acts(run([...OVERLAPPING, ready(1, 40), ev.forward("SIGHUP", 41)]).last)).toEqual([{ type: "signal", pid: 200, signal: "SIGHUP", scope: "group" }]);
  });

  it("stale events are ignored: an old token, another pid", () => {
    const r = run([...OVERLAPPING]);
    for (const event of [ready(9), ev.timer("ready-deadline", 9), ev.exited(999, code(0)), gone(100), ev.empty()]) {
      const step = transition(r.model, event, OVERLAP);
      expect(step.model, event.type).toBe(r.model);
      expect(step.effects, event.type).toEqual([]);
    }
  });
});

describe("machine: the crash rule after a change (--change-window)", () => {
  const WINDOW = policy({ changeWindowMs: 10_000 });
  const run = (events: Event[], opts: { policy?: Policy; from?: Model } = {}) => feed(events, { policy: WINDOW, ...opts });
  /** Generation 2 (pid 200), started by `source` at 1000, exits 1 at 1060; its tree is gone at 1070. */
  const broke = (source: RestartSource = "control"): Event[] => [
    ...RUNNING, ev.restart(source, 1000), ev.exited(100, sig("SIGTERM"), 1005), ev.empty(1006),
    ev.spawned(200, 1010), ev.exited(200, code(1), 1070), ev.empty(1080),
  ];

  it.each(["signal", "trigger-file", "watch", "control"] as const)("a generation started by %s that exits within the window -> broken: no backoff, not counted, logged once with its tail", (source) => {
    const r = run(broke(source));
    expect(stateOf(r.model, "broken")).toEqual({ kind: "broken", generation: 2, pid: 200, status: code(1), since: 1070 });
    expect(r.last).toEqual([
      ...CANCEL_STOP_TIMERS,
      {
        type: "log", level: "warn", event: "app-crashed-after-change", tailOf: 2,
        fields: { status: "exit 1", generation: 2, upMs: 60, changeWindowMs: 10_000, waiting: "for the next change or restart request" },
      },
    ]);
    expect(logs(r.effects, "app-crashed-after-change")).toHaveLength(1);
    expect(logs(r.effects, "backoff")).toEqual([]);
    expect(r.model.ctx.crashes).toEqual([]);
    expect(r.model.ctx.lastCrash).toEqual({ generation: 2, pid: 200, status: code(1), upMs: 60, at: 1070, afterChange: true });
    // The exit itself was swept as any exit is: SIGTERM to what it left.
    expect(ofType(r.steps[6] ?? [], "sweep")).toEqual([{ type: "sweep", signal: "SIGTERM" }]);
  });

  it("broken + restart-requested -> the next generation at once (no backoff); its restart line names the broken one", () => {
    const r = run([ev.restart("watch", 5000, "app.py")], { from: run(broke()).model });
    expect(r.last).toEqual([{ type: "spawn", generation: 3 }]);
    expect(stateOf(r.model, "starting").restart).toEqual({ source: "watch", detail: "app.py", oldPid: 200, oldStatus: code(1), requestedAt: 5000, exitedAt: null });
    const s = run([ev.spawned(300, 5010)], { from: r.model });
    expect(logs(s.last, "restart")[0]?.fields).toEqual({
      source: "watch", detail: "app.py", oldPid: 200, oldStatus: "exit 1", newPid: 300, generation: 3, downMs: 10, totalMs: 10,
    });
    expect(stateOf(s.model, "running").byChange).toBe(true);
  });

  it("broken + stop-requested -> exit with the app's last status (stopped-idle)", () => {
    const r = run([ev.stop("SIGTERM", 5000)], { from: run(broke()).model });
    expect(r.last).toEqual([{ type: "exit", outcome: { kind: "stopped-idle", signal: "SIGTERM", last: code(1) } }]);
    expect(exitCode({ kind: "stopped-idle", signal: "SIGTERM", last: code(1) })).toBe(1);
  });

  it("broken + internal-error -> exit internal-error", () => {
    const r = run([ev.internal("boom", 5000)], { from: run(broke()).model });
    expect(ofType(r.last, "exit")).toEqual([{ type: "exit", outcome: { kind: "internal-error", message: "boom" } }]);
  });

  const IGNORED: Event[] = [
    ev.start(5000), ev.spawned(999, 5000), ev.spawnFailed("ENOENT", 5000), ev.exited(200, code(1), 5000), ev.empty(5000),
    ev.forward("SIGHUP", 5000), ev.timer("backoff", 9, 5000), ev.timer("stop-deadline", 9, 5000), ev.drained(9, 0, 5000),
    { type: "next-ready", token: 9, how: "accept", at: 5000 }, { type: "generation-gone", pid: 200, at: 5000 },
  ];
  it.each(IGNORED.map((e) => [e.type, e] as const))("broken ignores %s", (_type, event) => {
    const before = run(broke()).model;
    const step = transition(before, event, WINDOW);
    expect(step.model).toBe(before);
    expect(step.effects).toEqual([]);
  });

  it("restart after restart into broken code, far more than --max-restarts: never gives up; the fix runs", () => {
    let m = run(broke()).model;
    let pid = 300;
    let at = 2000;
    for (let i = 0; i < POLICY.maxRestarts + 3; i++, pid += 100, at += 1000) {
      const r = run([ev.restart("control", at), ev.spawned(pid, at + 10), ev.exited(pid, code(1), at + 50), ev.empty(at + 60)], { from: m });
      expect(ofType(r.effects, "exit")).toEqual([]);
      expect(ofType(r.effects, "set-timer").filter((t) => t.name === "backoff")).toEqual([]);
      m = stateOf(r.model, "broken") && r.model;
    }
    const fix = run([ev.restart("control", at), ev.spawned(pid, at + 10)], { from: m });
    expect(stateOf(fix.model, "running")).toMatchObject({ pid, byChange: true });
    expect(fix.model.ctx.crashes).toEqual([]);
  });

  it("the first generation crashing goes through the backoff and gives up with the app's status, window or not", () => {
    const crash = (pid: number, at: number): Event[] => [ev.spawned(pid, at), ev.exited(pid, code(3), at + 5), ev.empty(at + 6)];
    const r = run([ev.start(0), ...crash(100, 0), ev.timer("backoff", 2, 200), ...crash(200, 200), ev.timer("backoff", 4, 400), ...crash(300, 400),
      ev.timer("backoff", 6, 800), ...crash(400, 800)]);
    expect(logs(r.effects, "app-crashed-after-change")).toEqual([]);
    expect(r.last).toContainEqual({ type: "exit", outcome: { kind: "gave-up", status: code(3), restarts: 3 } });
  });

  it("a generation started by a change that crashes after the window -> the backoff, counted", () => {
    const r = run([...RUNNING, ev.restart("watch", 1000), ev.exited(100, sig("SIGTERM"), 1005), ev.empty(1006),
      ev.spawned(200, 1010), ev.exited(200, code(1), 11_010), ev.empty(11_020)]);
    expect(stateOf(r.model, "backoff").last).toEqual(code(1));
    expect(r.model.ctx.crashes).toEqual([11_020]);
    expect(r.model.ctx.lastCrash).toMatchObject({ generation: 2, afterChange: false });
  });

  it("--every-crash-counts (changeWindowMs 0): a quick crash after a change enters the backoff as every crash does", () => {
    const r = run(broke(), { policy: policy({ changeWindowMs: 0 }) });
    expect(stateOf(r.model, "backoff").last).toEqual(code(1));
    expect(logs(r.effects, "app-crashed-after-change")).toEqual([]);
  });

  it("a crash restart (from the backoff timer) is no change: its quick crash is counted", () => {
    const r = run([...RUNNING, ev.exited(100, code(1), 10), ev.empty(11), ev.timer("backoff", 2, 111), ev.spawned(200, 112), ev.exited(200, code(1), 120), ev.empty(121)]);
    expect(stateOf(r.model, "backoff").delayMs).toBe(200);
    expect(r.model.ctx.crashes).toEqual([11, 121]);
  });

  it("a request during the backoff starts a generation by change: its quick crash waits in broken", () => {
    const r = run([...RUNNING, ev.exited(100, code(1), 10), ev.empty(11), ev.restart("control", 50), ev.spawned(200, 60), ev.exited(200, code(1), 70), ev.empty(71)]);
    stateOf(r.model, "broken");
    expect(r.model.ctx.crashes).toEqual([11]);
  });

  it("a request while a crash is being swept starts a generation by change", () => {
    const r = run([...RUNNING, ev.exited(100, code(1), 10), ev.restart("watch", 12), ev.empty(13), ev.spawned(200, 20)]);
    expect(stateOf(r.model, "running").byChange).toBe(true);
  });

  it("a spawn failure after a change (a file mid-sync) -> broken with 127, not counted", () => {
    const r = run([...RUNNING, ev.restart("watch", 1000), ev.exited(100, sig("SIGTERM"), 1005), ev.empty(1006), ev.spawnFailed("ENOENT", 1010)]);
    expect(stateOf(r.model, "broken")).toMatchObject({ generation: 2, status: code(127) });
    expect(r.model.ctx.crashes).toEqual([]);
  });

  it("--restart on-failure: a clean exit after a change still ends pidone with 0 (only what would be a crash restart waits)", () => {
    const r = run([...RUNNING, ev.restart("watch", 1000), ev.exited(100, sig("SIGTERM"), 1005), ev.empty(1006),
      ev.spawned(200, 1010), ev.exited(200, code(0), 1070), ev.empty(1080)]);
    expect(r.last).toContainEqual({ type: "exit", outcome: { kind: "app-exited", status: code(0) } });
  });

  describe("with --overlap", () => {
    const OVERLAP = policy({ changeWindowMs: 10_000, drain: true, overlap: true, readyTimeoutMs: 3000 });
    const OVERLAPPING: Event[] = [...RUNNING, ev.restart("control", 10), ev.spawned(200, 20)];
    it("a broken edit (the next generation exits before it is ready) keeps the old generation serving, as without the rule", () => {
      const r = run([...OVERLAPPING, ev.exited(200, code(1), 80)], { policy: OVERLAP });
      expect(stateOf(r.model, "running")).toMatchObject({ pid: 100, generation: 1 });
      expect(r.model.ctx.lastRestartFailure).toEqual({ reason: "exited before it was ready", status: code(1), generation: 2, pid: 200 });
      expect(logs(r.effects, "app-crashed-after-change")).toEqual([]);
    });
    it("the new generation crashing during its handover, within the window -> broken (nothing is left serving)", () => {
      const r = run([...OVERLAPPING, { type: "next-ready", token: 1, how: "accept", at: 40 }, ev.exited(200, code(3), 45), ev.empty(50)], { policy: OVERLAP });
      expect(stateOf(r.model, "broken")).toMatchObject({ generation: 2, pid: 200, status: code(3) });
    });
  });
});
