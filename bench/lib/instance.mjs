// One supervisor (or any command) run as PID 1 of its own PID namespace, the way a container
// runtime starts it: unshare --pid --fork --mount-proc stamp-exec <command...>. stamp-exec prints
// the instant it execs the command; the bench app prints its own stamps; both arrive on stdout.
// Every wait has a deadline and a failed wait carries what the instance printed.
import { spawn } from "node:child_process";
import { childrenOf } from "./proc.mjs";

/** CLOCK_MONOTONIC in ns, the clock the C helpers read (libuv's hrtime uses it on Linux). */
export const nowNs = () => Number(process.hrtime.bigint());

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolve with `promise`, or reject after `ms` with a message naming `what`. */
export function deadline(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Instances not yet exited, so an interrupted run can kill them. */
export const live = new Set();

/** SIGKILL every instance still running (synchronous; for exit paths). */
export function killAll() {
  for (const inst of live) {
    try {
      process.kill(inst.pid1, "SIGKILL");
    } catch {
      // gone, or PID 1 never started
    }
    inst.proc.kill("SIGKILL");
  }
}

export class Instance {
  /** @param {{ name: string, argv: string[], cwd: string, env: Record<string,string>, stampExec: string, unshareArgs: string[] }} o */
  constructor(o) {
    this.name = o.name;
    this.lines = [];
    this.events = [];
    this.stderr = "";
    this.exit = null;
    this.waiters = new Set();
    this.proc = spawn("unshare", [...o.unshareArgs, "--pid", "--fork", "--mount-proc", o.stampExec, ...o.argv], {
      cwd: o.cwd,
      env: o.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    this.proc.stdout.on("data", (d) => {
      out += d.toString("latin1");
      const parts = out.split("\n");
      out = parts.pop();
      for (const l of parts) {
        const m = /^([A-Z]) (\d+) (\d+)$/.exec(l);
        if (m) this.lines.push({ tag: m[1], pid: Number(m[2]), ns: Number(m[3]) });
      }
      this.wake();
    });
    let err = "";
    this.proc.stderr.on("data", (d) => {
      const s = d.toString("utf8");
      if (this.stderr.length < 20000) this.stderr += s;
      err += s;
      const parts = err.split("\n");
      err = parts.pop();
      for (const l of parts) {
        if (!l.startsWith("{")) continue;
        try {
          const ev = JSON.parse(l);
          if (typeof ev.event === "string") this.events.push(ev);
        } catch {
          // not a log line
        }
      }
      this.wake();
    });
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.proc.on("exit", (code, signal) => {
        live.delete(this);
        this.exit = { code, signal };
        this.wake();
        resolve(this.exit);
      });
      this.proc.on("error", (e) => {
        live.delete(this);
        this.exit = { code: null, signal: null, error: e.message };
        this.wake();
        resolve(this.exit);
      });
    });
  }

  wake() {
    for (const w of this.waiters) w();
  }

  /** Resolve with the first truthy `probe()`, re-checked on every output; reject on deadline or exit. */
  until(probe, what, timeoutMs) {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = () => {
        const v = probe();
        if (v) {
          done();
          resolve(v);
        } else if (this.exit) {
          done();
          reject(new Error(`${this.name} exited (${JSON.stringify(this.exit)}) while waiting for ${what}\n${this.output()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}\n${this.output()}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The first stdout stamp with this tag that matches. */
  line(tag, match = () => true, timeoutMs = 10_000) {
    return this.until(() => this.lines.find((l) => l.tag === tag && match(l)), `stamp ${tag}`, timeoutMs);
  }

  /** The first pidone log event of this name. */
  event(name, timeoutMs = 10_000) {
    return this.until(() => this.events.find((e) => e.event === name), `log event '${name}'`, timeoutMs);
  }

  /** The most recent app start. */
  lastStart() {
    for (let i = this.lines.length - 1; i >= 0; i--) if (this.lines[i].tag === "S") return this.lines[i];
    return null;
  }

  /** Host pid of PID 1 (unshare's only child). Valid once the X stamp arrived. */
  get pid1() {
    if (this.cachedPid1) return this.cachedPid1;
    const kids = childrenOf(this.proc.pid);
    if (kids.length !== 1) throw new Error(`${this.name}: expected unshare to have one child, found [${kids.join(" ")}]`);
    this.cachedPid1 = kids[0];
    return this.cachedPid1;
  }

  output() {
    const stamps = this.lines.slice(-10).map((l) => `${l.tag} ${l.pid} ${l.ns}`).join("\n");
    return `--- stdout (last stamps)\n${stamps}\n--- stderr\n${this.stderr.slice(-3000)}`;
  }

  /** Kill the namespace (SIGKILL to PID 1 takes every process in it along) and wait for unshare. */
  async stop() {
    if (this.exit) return;
    try {
      process.kill(this.pid1, "SIGKILL");
    } catch {
      // gone already, or PID 1 never started
    }
    try {
      await deadline(this.exited, 5000, `${this.name} to exit`);
    } catch {
      this.proc.kill("SIGKILL");
      await deadline(this.exited, 2000, `${this.name} (unshare) to exit`).catch(() => {});
    }
  }
}
