// The one state machine that owns the app's lifecycle: transition(model, event) -> {model, effects}.
// Pure: no I/O, no clocks (time comes in on events), no node:* imports. Every restart source,
// every signal and every child exit arrives here as an Event; the runner carries out the Effects.
import type { Crash, Effect, Event, Outcome } from "./events.js";
import type { Context, Model, Policy, Request, RestartInfo, Retiring, State, Then } from "./state.js";
import { describeStatus, spawnFailureCode, type ExitStatus } from "../exit-status.js";

/** Result of one transition. */
export interface Step {
  model: Model;
  effects: Effect[];
}

/** Stop signals that, sent a second time during a shutdown, mean "kill now". */
const IMPATIENT = new Set(["SIGINT", "SIGTERM"]);

/** Leaving the draining state for any reason: the drain and its deadline no longer matter. */
const END_DRAIN: Effect[] = [{ type: "end-drain" }, { type: "cancel-timer", name: "drain-deadline" }];

/** Leaving the overlapping state: the readiness check and its deadline no longer matter. */
const END_READY: Effect[] = [{ type: "end-ready" }, { type: "cancel-timer", name: "ready-deadline" }];

const log = (
  level: "debug" | "info" | "warn" | "error", event: string, fields: Record<string, unknown> = {}, about?: { pid: number; signal: string }, tailOf?: number,
): Effect => ({
  type: "log", level, event, fields, ...(about === undefined ? {} : { about }), ...(tailOf === undefined ? {} : { tailOf }),
});

/** A restart source other than a crash: something changed, or someone asked. */
const byChange = (r: Request | null): boolean => r !== null && r.source !== "crash";

/** Apply one event. Unknown or stale events leave the model unchanged. */
export function transition(model: Model, event: Event, policy: Policy): Step {
  const { state } = model;
  if (event.type === "internal-error") return onInternalError(model, event.message, event.at, policy);
  switch (state.kind) {
    case "idle":
      return fromIdle(model, event);
    case "starting":
      return fromStarting(model, state, event, policy);
    case "running":
      return fromRunning(model, state, event, policy);
    case "draining":
      return fromDraining(model, state, event, policy);
    case "overlapping":
      return fromOverlapping(model, state, event, policy);
    case "handover":
      return fromHandover(model, state, event, policy);
    case "stopping":
      return fromStopping(model, state, event, policy);
    case "backoff":
      return fromBackoff(model, state, event);
    case "broken":
      return fromBroken(model, state, event);
    case "exited":
      return same(model);
  }
}

function same(model: Model, effects: Effect[] = []): Step {
  return { model, effects };
}

function withState(model: Model, state: State, ctx: Partial<Context> = {}): Model {
  return { state, ctx: { ...model.ctx, ...ctx } };
}

function exitWith(model: Model, outcome: Outcome, effects: Effect[] = []): Step {
  return { model: withState(model, { kind: "exited", outcome }), effects: [...effects, { type: "exit", outcome }] };
}

function spawnGeneration(model: Model, restart: RestartInfo | null): Step {
  const generation = model.ctx.generation + 1;
  return {
    model: withState(model, { kind: "starting", generation, restart, pending: null, stopSignal: null }, { generation }),
    effects: [{ type: "spawn", generation }],
  };
}

function fromIdle(model: Model, event: Event): Step {
  if (event.type === "start") return spawnGeneration(model, null);
  if (event.type === "stop-requested") return exitWith(model, { kind: "stopped-idle", signal: event.signal, last: null });
  return same(model);
}

function fromStarting(model: Model, state: Extract<State, { kind: "starting" }>, event: Event, policy: Policy): Step {
  switch (event.type) {
    case "spawned": {
      const running: State = { kind: "running", generation: state.generation, pid: event.pid, startedAt: event.at, byChange: byChange(state.restart) };
      const r = state.restart;
      const ctx: Partial<Context> = { lastStartedAt: event.at };
      const effects: Effect[] = [];
      if (r) {
        ctx.restarts = model.ctx.restarts + 1;
        ctx.lastRestartReason = r.source;
        effects.push(log("info", "restart", {
          source: r.source, ...(r.detail ? { detail: r.detail } : {}),
          oldPid: r.oldPid, oldStatus: describeStatus(r.oldStatus), newPid: event.pid, generation: state.generation,
          downMs: round(event.at - (r.exitedAt ?? r.requestedAt)), totalMs: round(event.at - r.requestedAt),
        }));
      } else {
        effects.push(log("info", "spawned", { pid: event.pid, generation: state.generation }));
      }
      let step: Step = { model: withState(model, running, ctx), effects };
      // Requests that arrived while this generation was being started: at most one more restart.
      if (state.stopSignal) step = chain(step, { type: "stop-requested", signal: state.stopSignal, at: event.at }, policy);
      else if (state.pending) step = chain(step, { type: "restart-requested", ...state.pending, at: event.at }, policy);
      return step;
    }
    case "spawn-failed": {
      const effects = [log("error", "spawn-failed", { errno: event.errno, message: event.message, generation: state.generation })];
      if (state.stopSignal) return exitWith(model, { kind: "stopped-idle", signal: state.stopSignal, last: model.ctx.lastExit }, effects);
      // Before the first app ever ran, a bad command is a configuration error: fail fast.
      if (state.restart === null) return exitWith(model, { kind: "spawn-failed", errno: event.errno, message: event.message }, effects);
      // Afterwards pidone must not die of it (the file may be mid-sync): treat it like a crash.
      const status: ExitStatus = { code: spawnFailureCode(event.errno), signal: null };
      const stopping: Extract<State, { kind: "stopping" }> = {
        kind: "stopping", generation: state.generation, pid: 0, startedAt: event.at, byChange: byChange(state.restart), then: { kind: "after-crash" },
        requestedAt: event.at, status, exitedAt: event.at, killed: false, sent: null, token: 0,
      };
      const lastCrash = crashOf(stopping, status, event.at, policy);
      const step = afterCrash(withState(model, stopping, { lastExit: status, lastCrash }), stopping, event.at, policy);
      return { model: step.model, effects: [...effects, ...step.effects] };
    }
    case "restart-requested":
      return same(withState(model, { ...state, pending: state.pending ?? requestOf(event) }), [
        log("debug", "restart-coalesced", { source: event.source }),
      ]);
    case "stop-requested":
      return same(withState(model, { ...state, stopSignal: event.signal }));
    default:
      return same(model);
  }
}

function fromRunning(model: Model, state: Extract<State, { kind: "running" }>, event: Event, policy: Policy): Step {
  switch (event.type) {
    case "restart-requested": {
      const request = requestOf(event);
      const why = log("info", "restart-requested", { source: event.source, ...(event.detail ? { detail: event.detail } : {}), pid: state.pid, ...(policy.overlap ? { overlap: true } : {}) });
      if (policy.overlap) return beginOverlap(model, state, request, event.at, policy, why);
      if (!policy.drain) return beginStop(model, state, { kind: "respawn", request }, policy.stopSignal, event.at, policy, [why]);
      const token = model.ctx.nextToken;
      const draining: State = { ...state, kind: "draining", request, requestedAt: event.at, token };
      // As with signals, the steering changes before the log line is written.
      return same(withState(model, draining, { nextToken: token + 1 }), [
        { type: "drain", token, pid: state.pid },
        // The drain ends by itself; this bounds it should the app never accept again.
        { type: "set-timer", name: "drain-deadline", ms: policy.stopTimeoutMs, token },
        why,
      ]);
    }
    case "stop-requested":
      return beginStop(model, state, { kind: "exit", signal: event.signal }, toApp(event.signal, policy), event.at, policy, [
        log("info", "stopping", { signal: event.signal, ...sends(event.signal, policy), pid: state.pid, stopTimeoutMs: policy.stopTimeoutMs }),
      ]);
    case "forward-signal":
      return same(model, forward(state.pid, event.signal, policy));
    case "app-exited":
      if (event.pid !== state.pid) return same(model);
      // The app ended on its own. Clean up what it left behind before deciding anything.
      return exitedUnasked(model, state, { kind: "after-crash" }, event.at, event, policy);
    default:
      return same(model);
  }
}

/** Where the app is, for the states in which it runs. */
type Live = Pick<Extract<State, { kind: "running" }>, "generation" | "pid" | "startedAt" | "byChange">;

/** The record of generation `state` exiting on its own with `status` at `at`. */
function crashOf(state: Live, status: ExitStatus, at: number, policy: Policy): Crash {
  const upMs = at - state.startedAt;
  return { generation: state.generation, pid: state.pid, status, upMs: round(upMs), at, afterChange: quickAfterChange(state, upMs, policy) };
}

/** Started by a change and gone within the change window: the crash rule lets it wait for the
 *  next change instead of counting it. */
function quickAfterChange(state: Pick<Live, "byChange">, upMs: number, policy: Policy): boolean {
  return state.byChange && policy.changeWindowMs > 0 && upMs < policy.changeWindowMs;
}

/** The app exited without being signalled: sweep what it left, then do `then`. `requestedAt`
 *  is when what happens next was asked for: the exit itself, or an earlier restart request. */
function exitedUnasked(
  model: Model, state: Live, then: Then, requestedAt: number,
  event: Extract<Event, { type: "app-exited" }>, policy: Policy,
): Step {
  const token = model.ctx.nextToken;
  const stopping: State = {
    kind: "stopping", ...live(state),
    then, requestedAt, status: event.status, exitedAt: event.at, killed: false, sent: null, token,
  };
  return {
    model: withState(model, stopping, { nextToken: token + 1, lastExit: event.status, lastCrash: crashOf(state, event.status, event.at, policy) }),
    effects: [
      log(isClean(event.status) ? "info" : "warn", "app-exited", { pid: state.pid, status: describeStatus(event.status), uptimeMs: round(event.at - state.startedAt) }),
      { type: "set-timer", name: "stop-deadline", ms: policy.stopTimeoutMs, token },
      { type: "sweep", signal: "SIGTERM" },
    ],
  };
}

function fromDraining(model: Model, state: Extract<State, { kind: "draining" }>, event: Event, policy: Policy): Step {
  const respawn: Then = { kind: "respawn", request: state.request };
  switch (event.type) {
    case "drained":
    case "timer": {
      if (event.token !== state.token || (event.type === "timer" && event.name !== "drain-deadline")) return same(model);
      const why = event.type === "timer"
        ? log("warn", "drain-timeout", { pid: state.pid, ms: round(event.at - state.requestedAt) })
        : drainedLog(state.pid, event);
      const step = beginStop(model, state, respawn, policy.stopSignal, state.requestedAt, policy, [why]);
      return { model: step.model, effects: [...END_DRAIN, ...step.effects] };
    }
    case "restart-requested":
      return same(model, [coalesced(event)]);
    case "stop-requested": {
      const step = beginStop(model, state, { kind: "exit", signal: event.signal }, toApp(event.signal, policy), event.at, policy, [
        log("info", "stopping", { signal: event.signal, ...sends(event.signal, policy), pid: state.pid, stopTimeoutMs: policy.stopTimeoutMs, during: "respawn" }),
      ]);
      return { model: step.model, effects: [...END_DRAIN, ...step.effects] };
    }
    case "forward-signal":
      return same(model, forward(state.pid, event.signal, policy));
    case "app-exited": {
      if (event.pid !== state.pid) return same(model);
      // It went by itself during its drain: the restart that was asked for still happens, no backoff.
      const step = exitedUnasked(model, state, respawn, state.requestedAt, event, policy);
      return { model: step.model, effects: [...END_DRAIN, ...step.effects] };
    }
    default:
      return same(model);
  }
}

/** --overlap: start the next generation while this one keeps serving. */
function beginOverlap(model: Model, state: Live, request: Request, at: number, policy: Policy, why: Effect): Step {
  const token = model.ctx.nextToken;
  const next = { generation: model.ctx.generation + 1, pid: null, startedAt: null };
  const overlapping: State = { kind: "overlapping", ...live(state), next, request, requestedAt: at, token, pending: null };
  return same(withState(model, overlapping, { nextToken: token + 1 }), [
    { type: "spawn", generation: next.generation, next: true },
    { type: "set-timer", name: "ready-deadline", ms: policy.readyTimeoutMs, token },
    why,
  ]);
}

function fromOverlapping(model: Model, state: Extract<State, { kind: "overlapping" }>, event: Event, policy: Policy): Step {
  const { next } = state;
  const killNext: Effect[] = next.pid === null ? [] : [{ type: "sweep-generation", pid: next.pid, signal: "SIGKILL" }];
  switch (event.type) {
    case "spawned":
      if (next.pid !== null) return same(model);
      return same(withState(model, { ...state, next: { ...next, pid: event.pid, startedAt: event.at } }), [
        { type: "await-ready", pid: event.pid, token: state.token },
        log("info", "next-spawned", { pid: event.pid, generation: next.generation, servingPid: state.pid }),
      ]);
    case "spawn-failed":
      return restartFailed(model, state, `could not start: ${event.message}`, { code: spawnFailureCode(event.errno), signal: null }, event.at, policy, []);
    case "next-ready":
      if (event.token !== state.token || next.pid === null) return same(model);
      return handOver(model, state, next.pid, next.startedAt ?? event.at, event.how, event.at, policy);
    case "timer":
      if (event.token !== state.token || event.name !== "ready-deadline") return same(model);
      // Not ready in time (hung, or waiting for something that never comes): it never served a
      // client, so it goes at once, SIGKILL; the current generation was never touched.
      return restartFailed(model, state, `not ready within ${policy.readyTimeoutMs} ms`, null, event.at, policy, killNext);
    case "app-exited": {
      if (event.pid === next.pid) {
        // A broken edit: it crashed before it was ready. Its leftovers go; the current one serves on.
        return restartFailed(model, state, "exited before it was ready", event.status, event.at, policy, killNext);
      }
      if (event.pid !== state.pid) return same(model);
      // The serving generation died while the next one was starting: nothing is left to overlap
      // with. Sweep everything (the unready next generation too) and restart as without --overlap.
      const step = exitedUnasked(model, state, { kind: "respawn", request: state.request }, state.requestedAt, event, policy);
      return { model: step.model, effects: [...END_READY, ...killNext, ...step.effects] };
    }
    case "restart-requested":
      // Before the spawn, the spawn under way satisfies it; after, it may have missed the files
      // the next generation already loaded: one more restart once this one is over.
      if (next.pid === null) return same(model, [coalesced(event)]);
      return same(withState(model, { ...state, pending: state.pending ?? requestOf(event) }), [coalesced(event)]);
    case "stop-requested":
      return stopDuringOverlap(model, state, event.signal, event.at, policy, next.pid, END_READY);
    case "forward-signal":
      return same(model, forward(state.pid, event.signal, policy));
    default:
      return same(model);
  }
}

/** The next generation failed: it is gone or going, the current one serves on untouched, and
 *  the failure is reported. A request that came in meanwhile (the fix?) tries again. */
function restartFailed(
  model: Model, state: Extract<State, { kind: "overlapping" }>, reason: string, status: ExitStatus | null,
  at: number, policy: Policy, effects: Effect[],
): Step {
  const running: State = { kind: "running", ...live(state) };
  const failure = { reason, status, generation: state.next.generation, pid: state.next.pid };
  let step: Step = {
    model: withState(model, running, { failedRestarts: model.ctx.failedRestarts + 1, lastRestartFailure: failure }),
    effects: [...END_READY, ...effects, log("warn", "restart-failed", {
      source: state.request.source, reason, status: describeStatus(status), nextPid: state.next.pid, servingPid: state.pid,
      ms: round(at - state.requestedAt),
    })],
  };
  if (state.pending) step = chain(step, { type: "restart-requested", ...state.pending, at }, policy);
  return step;
}

/** The next generation is ready: new connections go to it, the old one drains, then stops. */
function handOver(
  model: Model, state: Extract<State, { kind: "overlapping" }>, pid: number, startedAt: number, how: string, at: number, policy: Policy,
): Step {
  const token = model.ctx.nextToken;
  const old: Retiring = { pid: state.pid, generation: state.generation, phase: "draining", status: null, exitedAt: null, killed: false };
  const handover: State = {
    kind: "handover", generation: state.next.generation, pid, startedAt, byChange: true, old, request: state.request,
    requestedAt: state.requestedAt, readyAt: at, how, token, pending: state.pending,
  };
  return same(withState(model, handover, { nextToken: token + 1, generation: state.next.generation, lastStartedAt: startedAt }), [
    ...END_READY,
    // The drain steers new connections to the next generation's socket first.
    { type: "drain", token, pid: state.pid, handover: true },
    { type: "set-timer", name: "drain-deadline", ms: policy.stopTimeoutMs, token },
    log("info", "next-ready", { pid, how, readyMs: round(at - startedAt), oldPid: state.pid }),
  ]);
}

function fromHandover(model: Model, state: Extract<State, { kind: "handover" }>, event: Event, policy: Policy): Step {
  const { old } = state;
  const endDrain = old.phase === "draining" ? END_DRAIN : [];
  switch (event.type) {
    case "drained":
      if (event.token !== state.token || old.phase !== "draining") return same(model);
      return stopOld(model, state, policy, drainedLog(old.pid, event));
    case "timer":
      if (event.token !== state.token) return same(model);
      if (event.name === "drain-deadline" && old.phase === "draining") {
        return stopOld(model, state, policy, log("warn", "drain-timeout", { pid: old.pid, ms: round(event.at - state.readyAt) }));
      }
      if (event.name === "stop-deadline" && old.phase === "stopping" && !old.killed) {
        return same(withState(model, { ...state, old: { ...old, killed: true } }), [
          log("warn", "stop-timeout", { pid: old.pid, stopTimeoutMs: policy.stopTimeoutMs, retiring: true }),
          { type: "sweep-generation", pid: old.pid, signal: "SIGKILL" },
          { type: "set-timer", name: "kill-grace", ms: policy.killGraceMs, token: state.token },
        ]);
      }
      if (event.name === "kill-grace") {
        const step = finishHandover(model, state, event.at, policy);
        return { model: step.model, effects: [log("error", "leftovers-survived-kill", { pid: old.pid, graceMs: policy.killGraceMs }), ...step.effects] };
      }
      return same(model);
    case "app-exited":
      if (event.pid === old.pid && old.status === null) {
        // It went (asked, or by itself during its drain): sweep what it left; the next one serves.
        const retiring: Retiring = { ...old, phase: "stopping", status: event.status, exitedAt: event.at };
        const arm: Effect[] = old.phase === "draining" ? [{ type: "set-timer", name: "stop-deadline", ms: policy.stopTimeoutMs, token: state.token }] : [];
        return same(withState(model, { ...state, old: retiring }), [
          ...endDrain,
          log("info", "app-exited", { pid: old.pid, status: describeStatus(event.status), retired: true, stopMs: round(event.at - state.readyAt) }),
          ...arm,
          { type: "sweep-generation", pid: old.pid, signal: old.killed ? "SIGKILL" : "SIGTERM" },
        ]);
      }
      if (event.pid === state.pid) {
        // The new generation died during the handover: a crash like any other; everything,
        // the retiring generation included, is swept before the crash policy decides.
        const step = exitedUnasked(model, state, { kind: "after-crash" }, event.at, event, policy);
        return { model: step.model, effects: [...endDrain, ...step.effects] };
      }
      return same(model);
    case "generation-gone":
      if (event.pid !== old.pid || old.status === null) return same(model);
      return finishHandover(model, state, event.at, policy);
    case "restart-requested":
      return same(withState(model, { ...state, pending: state.pending ?? requestOf(event) }), [coalesced(event)]);
    case "stop-requested": {
      const alive = old.status === null && !old.killed ? old.pid : null;
      return stopDuringOverlap(model, state, event.signal, event.at, policy, alive, endDrain);
    }
    case "forward-signal":
      return same(model, forward(state.pid, event.signal, policy));
    default:
      return same(model);
  }
}

/** The retiring generation has drained (or gave up): signal it. */
function stopOld(model: Model, state: Extract<State, { kind: "handover" }>, policy: Policy, why: Effect): Step {
  const { old } = state;
  if (old.status !== null) return same(withState(model, { ...state, old: { ...old, phase: "stopping" } }), [...END_DRAIN, why]);
  return same(withState(model, { ...state, old: { ...old, phase: "stopping" } }), [
    ...END_DRAIN,
    { type: "signal", pid: old.pid, signal: policy.stopSignal, scope: policy.signalScope },
    { type: "set-timer", name: "stop-deadline", ms: policy.stopTimeoutMs, token: state.token },
    why,
  ]);
}

/** Nothing of the old generation is left: the new one runs alone; that was the restart. */
function finishHandover(model: Model, state: Extract<State, { kind: "handover" }>, at: number, policy: Policy): Step {
  const running: State = { kind: "running", ...live(state) };
  const r = state.request;
  let step: Step = {
    model: withState(model, running, { restarts: model.ctx.restarts + 1, lastRestartReason: r.source }),
    effects: [
      { type: "cancel-timer", name: "stop-deadline" },
      { type: "cancel-timer", name: "kill-grace" },
      log("info", "restart", {
        source: r.source, ...(r.detail ? { detail: r.detail } : {}), oldPid: state.old.pid, oldStatus: describeStatus(state.old.status),
        newPid: state.pid, generation: state.generation, overlap: true, ready: state.how, downMs: 0,
        readyMs: round(state.readyAt - state.requestedAt), totalMs: round(at - state.requestedAt),
      }),
    ],
  };
  if (state.pending) step = chain(step, { type: "restart-requested", ...state.pending, at }, policy);
  return step;
}

/** A stop while two generations run: the serving one is stopped as usual (its status is the
 *  exit status), the other gets the same signal; the stop ends when nothing of either is left. */
function stopDuringOverlap(
  model: Model, state: Live, signal: string, at: number, policy: Policy, other: number | null, end: Effect[],
): Step {
  const step = beginStop(model, state, { kind: "exit", signal }, toApp(signal, policy), at, policy, [
    log("info", "stopping", { signal, ...sends(signal, policy), pid: state.pid, stopTimeoutMs: policy.stopTimeoutMs, during: "overlap" }),
  ]);
  const alsoOther: Effect[] = other === null ? [] : [{ type: "signal", pid: other, signal: toApp(signal, policy), scope: policy.signalScope }];
  return { model: step.model, effects: [...end, ...alsoOther, ...step.effects] };
}

/** The line for a drain's end: a warning when it left connections unaccepted or unread. */
function drainedLog(pid: number, event: Extract<Event, { type: "drained" }>): Effect {
  const fields = { pid, ms: event.ms, ...(event.left > 0 ? { notAccepted: event.left } : {}), ...(event.unread > 0 ? { unread: event.unread } : {}) };
  return log(event.left > 0 || event.unread > 0 ? "warn" : "debug", "drained", fields);
}

function live(state: Live): Live {
  return { generation: state.generation, pid: state.pid, startedAt: state.startedAt, byChange: state.byChange };
}

function beginStop(
  model: Model, state: Live, then: Then, signal: string, at: number, policy: Policy, effects: Effect[],
): Step {
  const token = model.ctx.nextToken;
  const stopping: State = {
    kind: "stopping", ...live(state), then,
    requestedAt: at, status: null, exitedAt: null, killed: false, sent: signal, token,
  };
  return {
    model: withState(model, stopping, { nextToken: token + 1 }),
    // The signal goes out first: the log line is a synchronous write that need not delay it.
    effects: [
      { type: "signal", pid: state.pid, signal, scope: policy.signalScope },
      { type: "set-timer", name: "stop-deadline", ms: policy.stopTimeoutMs, token },
      ...effects,
    ],
  };
}

function fromStopping(model: Model, state: Extract<State, { kind: "stopping" }>, event: Event, policy: Policy): Step {
  switch (event.type) {
    case "app-exited": {
      if (event.pid !== state.pid || state.status !== null) return same(model);
      const next = { ...state, status: event.status, exitedAt: event.at };
      // Everything still alive gets SIGTERM now, group members included: what left the group
      // (setsid, double fork) never got a signal; a process forked just after the group signal
      // went out never got it either (seen with sh's `cmd &` during its trap); and group members
      // that got SIGINT or SIGQUIT may ignore it (sh's background jobs do). A second SIGTERM to
      // a process already shutting down is harmless; waiting out the stop timeout is not.
      // Once SIGKILL went out, the sweep kills too: what forked during the kill got nothing yet,
      // and a SIGTERM now would leave it to a grace that no longer kills.
      return same(withState(model, next, { lastExit: event.status }), [
        log("info", "app-exited", { pid: state.pid, status: describeStatus(event.status), stopMs: round(event.at - state.requestedAt) }),
        { type: "sweep", signal: state.killed ? "SIGKILL" : "SIGTERM" },
      ]);
    }
    case "tree-empty":
      if (state.status === null) return same(model);
      return finishStop(model, state, event.at, policy);
    case "restart-requested":
      switch (state.then.kind) {
        case "respawn":
          return same(model, [coalesced(event)]);
        case "after-crash":
          // The developer asked for a restart while a crash was being cleaned up: do that, no backoff.
          return same(withState(model, { ...state, then: { kind: "respawn", request: requestOf(event) } }));
        default:
          return same(model, [log("debug", "restart-ignored", { source: event.source, reason: "stopping" })]);
      }
    case "stop-requested": {
      if (state.then.kind === "exit") {
        if (IMPATIENT.has(event.signal) && !state.killed) {
          return killNow(model, state, policy, log("warn", "kill-now", { signal: event.signal, reason: "second stop signal" }));
        }
        return same(model, state.status === null ? forward(state.pid, toApp(event.signal, policy), policy) : []);
      }
      const next = { ...state, then: { kind: "exit", signal: event.signal } as Then };
      const effects: Effect[] = [log("info", "stopping", { signal: event.signal, pid: state.pid, during: state.then.kind })];
      if (state.status === null && !state.killed) effects.push(...forward(state.pid, toApp(event.signal, policy), policy));
      return same(withState(model, next), effects);
    }
    case "forward-signal":
      return same(model, state.status === null && !state.killed ? forward(state.pid, event.signal, policy) : []);
    case "timer":
      if (event.token !== state.token) return same(model);
      if (event.name === "stop-deadline") {
        // While the app itself lives, the line also says how it stands with the signal it got.
        const about = state.status === null && state.sent !== null ? { pid: state.pid, signal: state.sent } : undefined;
        return killNow(model, state, policy, log("warn", "stop-timeout", { pid: state.pid, stopTimeoutMs: policy.stopTimeoutMs }, about));
      }
      if (event.name === "kill-grace") {
        // Something survived SIGKILL: forked during the kill passes, or in uninterruptible sleep.
        // Kill once more (the fork that raced the first kill is there now), then carry on rather
        // than hang forever.
        const effects: Effect[] = [
          log("error", "leftovers-survived-kill", { pid: state.pid, graceMs: policy.killGraceMs }),
          { type: "kill-tree", pid: state.pid },
        ];
        const status = state.status ?? { code: null, signal: "SIGKILL" };
        const step = finishStop(withState(model, { ...state, status }), { ...state, status, exitedAt: state.exitedAt ?? event.at }, event.at, policy);
        return { model: step.model, effects: [...effects, ...step.effects] };
      }
      return same(model);
    default:
      return same(model);
  }
}

function killNow(model: Model, state: Extract<State, { kind: "stopping" }>, policy: Policy, why: Effect): Step {
  return same(withState(model, { ...state, killed: true }), [
    why,
    { type: "kill-tree", pid: state.pid },
    { type: "cancel-timer", name: "stop-deadline" },
    { type: "set-timer", name: "kill-grace", ms: policy.killGraceMs, token: state.token },
  ]);
}

function finishStop(model: Model, state: Extract<State, { kind: "stopping" }>, at: number, policy: Policy): Step {
  const cancel: Effect[] = [
    { type: "cancel-timer", name: "stop-deadline" },
    { type: "cancel-timer", name: "kill-grace" },
  ];
  const status = state.status as ExitStatus;
  const then = state.then;
  switch (then.kind) {
    case "exit":
      return exitWith(model, { kind: "app-exited", status }, cancel);
    case "internal-error":
      return exitWith(model, { kind: "internal-error", message: then.message }, cancel);
    case "respawn": {
      const info: RestartInfo = { ...then.request, oldPid: state.pid, oldStatus: status, requestedAt: state.requestedAt, exitedAt: state.exitedAt };
      const step = spawnGeneration(model, info);
      return { model: step.model, effects: [...cancel, ...step.effects] };
    }
    case "after-crash": {
      const step = afterCrash(model, state, at, policy);
      return { model: step.model, effects: [...cancel, ...step.effects] };
    }
  }
}

/** The app ended on its own and its tree is gone: restart (with backoff), give up, exit, or,
 *  for a generation a change started that did not last the change window, wait for the next
 *  change (a mistake being fixed must not cost the container; a crash with no change in play
 *  still reaches Kubernetes through the backoff and giving up). */
function afterCrash(model: Model, state: Extract<State, { kind: "stopping" }>, at: number, policy: Policy): Step {
  const status = state.status as ExitStatus;
  if (policy.restart === "never" || (policy.restart === "on-failure" && isClean(status))) {
    return exitWith(model, { kind: "app-exited", status });
  }
  const exitedAt = state.exitedAt ?? at;
  const uptime = exitedAt - state.startedAt;
  if (quickAfterChange(state, uptime, policy)) {
    const broken: State = { kind: "broken", generation: state.generation, pid: state.pid, status, since: exitedAt };
    return same(withState(model, broken), [
      log("warn", "app-crashed-after-change", {
        status: describeStatus(status), generation: state.generation, upMs: round(uptime), changeWindowMs: policy.changeWindowMs,
        waiting: "for the next change or restart request",
      }, undefined, state.generation),
    ]);
  }
  const recent = uptime >= policy.backoffResetMs ? [] : model.ctx.crashes.filter((t) => at - t < policy.restartWindowMs);
  const crashes = [...recent, at];
  if (crashes.length > policy.maxRestarts) {
    return exitWith(withState(model, model.state, { crashes }), { kind: "gave-up", status, restarts: crashes.length - 1 }, [
      log("error", "gave-up", { status: describeStatus(status), crashes: crashes.length, maxRestarts: policy.maxRestarts, restartWindowMs: policy.restartWindowMs }),
    ]);
  }
  const delayMs = Math.min(policy.backoffInitialMs * 2 ** (crashes.length - 1), policy.backoffMaxMs);
  const token = model.ctx.nextToken;
  const restart: RestartInfo = { source: "crash", oldPid: state.pid, oldStatus: status, requestedAt: state.exitedAt ?? at, exitedAt: state.exitedAt };
  return {
    model: withState(model, { kind: "backoff", token, delayMs, last: status, restart }, { crashes, nextToken: token + 1 }),
    effects: [
      log("warn", "backoff", { status: describeStatus(status), attempt: crashes.length, delayMs, maxRestarts: policy.maxRestarts }),
      { type: "set-timer", name: "backoff", ms: delayMs, token },
    ],
  };
}

function fromBroken(model: Model, state: Extract<State, { kind: "broken" }>, event: Event): Step {
  switch (event.type) {
    case "restart-requested":
      // The fix, at once: no backoff, the wait was for this.
      return spawnGeneration(model, { ...requestOf(event), oldPid: state.pid, oldStatus: state.status, requestedAt: event.at, exitedAt: null });
    case "stop-requested":
      return exitWith(model, { kind: "stopped-idle", signal: event.signal, last: state.status });
    default:
      return same(model);
  }
}

function fromBackoff(model: Model, state: Extract<State, { kind: "backoff" }>, event: Event): Step {
  const cancel: Effect = { type: "cancel-timer", name: "backoff" };
  switch (event.type) {
    case "timer":
      if (event.name !== "backoff" || event.token !== state.token) return same(model);
      return spawnGeneration(model, state.restart);
    case "restart-requested": {
      const step = spawnGeneration(model, { ...state.restart, ...requestOf(event), requestedAt: event.at });
      return { model: step.model, effects: [cancel, ...step.effects] };
    }
    case "stop-requested":
      return exitWith(model, { kind: "stopped-idle", signal: event.signal, last: state.last }, [cancel]);
    default:
      return same(model);
  }
}

function onInternalError(model: Model, message: string, at: number, policy: Policy): Step {
  const { state } = model;
  const why = log("error", "internal-error", { message });
  const outcome: Outcome = { kind: "internal-error", message };
  switch (state.kind) {
    case "running":
      return beginStop(model, state, { kind: "internal-error", message }, policy.stopSignal, at, policy, [why]);
    case "draining": {
      const step = beginStop(model, state, { kind: "internal-error", message }, policy.stopSignal, at, policy, [why]);
      return { model: step.model, effects: [...END_DRAIN, ...step.effects] };
    }
    case "overlapping":
    case "handover": {
      // The other generation is swept with everything else once the serving one has exited.
      const end = state.kind === "overlapping" ? END_READY : state.old.phase === "draining" ? END_DRAIN : [];
      const step = beginStop(model, live(state), { kind: "internal-error", message }, policy.stopSignal, at, policy, [why]);
      return { model: step.model, effects: [...end, ...step.effects] };
    }
    case "stopping":
      return same(withState(model, { ...state, then: { kind: "internal-error", message } }), [why]);
    case "exited":
      return same(model);
    default:
      return exitWith(model, outcome, [why, { type: "cancel-timer", name: "backoff" }]);
  }
}

/** Feed a follow-up event to the model a step produced, keeping both steps' effects. */
function chain(step: Step, event: Event, policy: Policy): Step {
  const next = transition(step.model, event, policy);
  return { model: next.model, effects: [...step.effects, ...next.effects] };
}

/** What a stop signal pidone got is sent to the app as: SIGTERM (`docker stop`, Kubernetes) is
 *  the request to stop, so it goes as --stop-signal, as dumb-init's --rewrite would; SIGINT and
 *  SIGQUIT, which mean something more specific, go as themselves. */
function toApp(signal: string, policy: Policy): string {
  return signal === "SIGTERM" ? policy.stopSignal : signal;
}

/** The log field naming what the app got, when it is not the signal pidone got. */
function sends(signal: string, policy: Policy): { sent?: string } {
  const sent = toApp(signal, policy);
  return sent === signal ? {} : { sent };
}

function forward(pid: number, signal: string, policy: Policy): Effect[] {
  return [
    { type: "signal", pid, signal, scope: policy.signalScope },
    log("debug", "signal-forwarded", { signal, pid, scope: policy.signalScope }),
  ];
}

/** A restart asked for before the next generation is spawned: that spawn will load the newest
 *  files anyway, so it satisfies the request; restarting again would only kill it mid-boot. */
function coalesced(event: Extract<Event, { type: "restart-requested" }>): Effect {
  return log("debug", "restart-coalesced", { source: event.source });
}

function requestOf(event: Extract<Event, { type: "restart-requested" }>): Request {
  return event.detail ? { source: event.source, detail: event.detail } : { source: event.source };
}

function isClean(status: ExitStatus): boolean {
  return status.code === 0;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
