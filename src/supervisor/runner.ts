// Runs the machine: feeds it events one at a time, carries out the effects it returns, and turns
// the outside world's answers (spawned, exited, timers, reaped) back into events.
import type { Logger } from "pino";
import type { Effect, Event, Outcome, StatusSnapshot } from "./events.js";
import { transition } from "./machine.js";
import { initialModel, type Model, type Policy } from "./state.js";
import { plainSpawner, type Spawner } from "../child/spawn.js";
import type { DrainResult, Handoff } from "../child/handoff.js";
import { ProcessTree, standingFields } from "../child/tree.js";
import type { ReadySignal } from "../ready-signal.js";
import type { Libc } from "../sys/libc.js";

/** What the runner needs from its surroundings. */
export interface RunnerOptions {
  command: string;
  args: readonly string[];
  policy: Policy;
  log: Logger;
  /** The syscalls the process tree needs, loaded on first use (null if they cannot be). */
  libc: () => Libc | null;
  /** Listening sockets handed to every generation, through the exec shim (--listen). */
  handoff?: Pick<Handoff, "spawnVia" | "drain" | "spawnNextVia" | "awaitReady">;
  /** How --overlap knows the next generation is ready. */
  readySignal?: ReadySignal;
  /** pidone's stdin is a terminal: each generation is given it (see child/spawn.ts). */
  terminal?: boolean;
  /** How generations start (--preload forks them from a zygote); default: a plain spawn. */
  spawner?: Spawner;
  /** The last lines generation N printed, both streams as they arrived (null when not kept). */
  outputTail?: (generation: number) => string | null;
  /** Called once, with how pidone ends. */
  onExit(outcome: Outcome): void;
}

/** Monotonic milliseconds. */
export const now = (): number => {
  // process.hrtime, not performance.now(): the first touch of the performance global loads
  // perf_hooks, about 1.3 ms before the spawn. Both read CLOCK_MONOTONIC.
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
};

/** The supervisor: the machine plus the effects it needs. */
export class Runner {
  private model: Model = initialModel();
  private readonly queue: Event[] = [];
  private dispatching = false;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private endDrain: (() => void) | null = null;
  /** Reaping, counting, signalling and killing: everything below pidone. */
  private readonly tree: ProcessTree;
  private endReady: (() => void) | null = null;
  /** Generations being swept while another one runs (--overlap): reported gone once empty. */
  private readonly sweeping = new Set<number>();
  private readonly listeners = new Set<(s: StatusSnapshot) => void>();
  private exited = false;
  private readonly spawner: Spawner;

  constructor(private readonly opts: RunnerOptions) {
    const { log } = opts;
    this.spawner = opts.spawner ?? plainSpawner(opts.command, opts.args, opts.terminal);
    this.tree = new ProcessTree(opts.libc, { warn: (f) => log.warn(f), debug: (f) => log.debug(f) }, this.spawner.helpers);
  }

  /** Feed one event. Events raised while effects run are queued, never nested. */
  dispatch = (event: Event): void => {
    this.queue.push(event);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.queue.length > 0) {
        const next = this.queue.shift() as Event;
        const step = transition(this.model, next, this.opts.policy);
        this.model = step.model;
        for (const effect of step.effects) this.run(effect);
      }
    } finally {
      this.dispatching = false;
    }
    this.notify();
  };

  private notify(): void {
    if (this.listeners.size === 0) return;
    const snap = this.snapshot();
    for (const l of this.listeners) l(snap);
  }

  /** Reap orphans; while a generation is stopping, report when nothing of it is left. Runs on SIGCHLD. */
  onChildSignal = (): void => {
    const { reaped, empty } = this.tree.reap();
    if (reaped.length > 0 && this.opts.log.isLevelEnabled("debug")) this.opts.log.debug({ event: "reaped", count: reaped.length, pids: reaped.slice(0, 20) });
    if (empty && this.model.state.kind === "stopping") this.dispatch({ type: "tree-empty", at: now() });
    for (const pid of this.sweeping) this.reportIfGone(pid);
  };

  private reportIfGone(pid: number): void {
    if (this.tree.generationMembers(pid).length > 0) return;
    this.sweeping.delete(pid);
    this.dispatch({ type: "generation-gone", pid, at: now() });
  }

  /** The current status, for `pidone status`. */
  snapshot(): StatusSnapshot {
    const { state, ctx } = this.model;
    const live = state.kind === "running" || state.kind === "draining" || state.kind === "overlapping" || state.kind === "handover"
      || (state.kind === "stopping" && state.status === null);
    return {
      state: state.kind,
      pid: live ? state.pid : null,
      generation: ctx.generation,
      startedAt: live ? state.startedAt : null,
      restarts: ctx.restarts,
      lastExit: ctx.lastExit,
      lastRestartReason: ctx.lastRestartReason,
      failedRestarts: ctx.failedRestarts,
      lastRestartFailure: ctx.lastRestartFailure,
      lastCrash: ctx.lastCrash,
    };
  }

  /** The last lines generation N printed, or null when they are not kept. */
  outputTail(generation: number): string | null {
    return this.opts.outputTail?.(generation) ?? null;
  }

  /** Be told of every state change; returns the unsubscribe function. */
  subscribe(listener: (s: StatusSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Emergency stop for when the machine itself failed: kill everything, synchronously. */
  killEverything(): void {
    const s = this.model.state;
    this.tree.kill(s.kind === "running" || s.kind === "draining" || s.kind === "stopping" || s.kind === "overlapping" || s.kind === "handover" ? s.pid : null);
  }

  private run(effect: Effect): void {
    const { log } = this.opts;
    switch (effect.type) {
      case "log": {
        const about = effect.about === undefined ? {} : standingFields(effect.about.pid, effect.about.signal as NodeJS.Signals);
        const tail = effect.tailOf === undefined ? null : this.outputTail(effect.tailOf);
        log[effect.level]({ event: effect.event, ...effect.fields, ...about, ...(tail === null ? {} : { tail }) });
        return;
      }
      case "spawn":
        return this.spawn(effect.next === true, effect.generation);
      case "await-ready": {
        const { token } = effect;
        this.endReady?.();
        const { handoff, readySignal } = this.opts;
        if (!handoff || !readySignal) return;
        this.endReady = handoff.awaitReady(readySignal, (how) => {
          this.endReady = null;
          this.dispatch({ type: "next-ready", token, how, at: now() });
        });
        return;
      }
      case "end-ready":
        this.endReady?.();
        this.endReady = null;
        return;
      case "sweep-generation": {
        const n = this.tree.signalGeneration(effect.pid, effect.signal as NodeJS.Signals);
        log.debug({ event: "sweep-generation", pid: effect.pid, signal: effect.signal, signalled: n });
        this.sweeping.add(effect.pid);
        this.reportIfGone(effect.pid);
        return;
      }
      case "signal":
        try {
          const sent = this.tree.signalApp(effect.pid, effect.signal as NodeJS.Signals, effect.scope);
          if (sent !== effect.signal) log.debug({ event: "signal-translated", signal: effect.signal, sent, pid: effect.pid, reason: "app does not catch it; its group is orphaned" });
        } catch (err) {
          log.warn({ event: "signal-failed", signal: effect.signal, pid: effect.pid, error: (err as Error).message });
        }
        return;
      case "sweep":
        return this.sweep(effect.signal as NodeJS.Signals);
      case "kill-tree": {
        const t0 = now();
        const { killed, passes } = this.tree.kill(effect.pid);
        log.debug({ event: "killed-tree", pid: effect.pid, killed, passes, ms: Math.round(now() - t0) });
        // SIGKILLed processes report through SIGCHLD; check now in case all were already zombies.
        this.onChildSignal();
        return;
      }
      case "set-timer": {
        this.cancel(effect.name);
        const { name, token } = effect;
        this.timers.set(name, setTimeout(() => {
          this.timers.delete(name);
          this.dispatch({ type: "timer", name, token, at: now() });
        }, effect.ms));
        return;
      }
      case "cancel-timer":
        return this.cancel(effect.name);
      case "drain": {
        const { token, pid } = effect;
        const report = (r: DrainResult) => {
          this.endDrain = null;
          this.dispatch({ type: "drained", token, ...r, at: now() });
        };
        this.endDrain?.();
        this.endDrain = this.opts.handoff ? this.opts.handoff.drain(report, effect.handover === true, () => this.tree.generationMembers(pid)) : null;
        if (!this.opts.handoff) report({ ms: 0, left: 0, unread: 0 });
        return;
      }
      case "end-drain":
        this.endDrain?.();
        this.endDrain = null;
        return;
      case "exit":
        if (this.exited) return;
        this.exited = true;
        this.endDrain?.();
        this.endReady?.();
        for (const name of [...this.timers.keys()]) this.cancel(name);
        // onExit ends the process: this is the listeners' last chance to see the outcome (a
        // `pidone restart` waiting on the control socket answers with it). Nothing a listener
        // does may keep pidone from exiting.
        try {
          this.notify();
        } catch (err) {
          log.warn({ event: "exit-listener-failed", error: err instanceof Error ? err.message : String(err) });
        }
        this.opts.onExit(effect.outcome);
        return;
    }
  }

  private spawn(next: boolean, generation: number): void {
    const { handoff, readySignal } = this.opts;
    const via = handoff ? (next && readySignal ? handoff.spawnNextVia(readySignal) : handoff.spawnVia()) : undefined;
    let pidRef = -1;
    this.spawner.start({
      generation,
      onSpawned: (pid, collector) => {
        pidRef = pid;
        this.tree.adopt(pid, collector);
        this.dispatch({ type: "spawned", pid, at: now() });
      },
      onExit: (status) => {
        // libuv (or the zygote) has collected this pid: it is no longer ours, and may be reused by an orphan.
        this.tree.release(pidRef);
        this.dispatch({ type: "app-exited", pid: pidRef, status, at: now() });
        this.onChildSignal();
      },
      onError: (errno, message) => this.dispatch({ type: "spawn-failed", errno, message, at: now() }),
    }, via);
  }

  private sweep(signal: NodeJS.Signals): void {
    const { empty, signalled } = this.tree.sweep(signal);
    if (empty) {
      this.dispatch({ type: "tree-empty", at: now() });
      return;
    }
    this.opts.log.debug({ event: "sweep", signal, signalled });
    // SIGKILLed processes report through SIGCHLD; check now in case all were already zombies.
    if (signal === "SIGKILL") this.onChildSignal();
  }

  private cancel(name: string): void {
    const t = this.timers.get(name);
    if (t) clearTimeout(t);
    this.timers.delete(name);
  }
}
