// Runs `pidone sync` (the laptop side) from the built bundle with --json, collects its events and
// lets a test wait for them with deadlines; plus a tree snapshot for comparing both ends.
import { spawn, type ChildProcess } from "node:child_process";
import { lstatSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import path from "node:path";
import { BUNDLE, eventLines } from "./pidone.js";

/** One JSON event of `pidone sync --json`. */
export type SyncEvent = { event: string; [k: string]: unknown };

/** The environment without what makes Node start slowly (NODE_EXTRA_CA_CERTS) or differently. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}

/** `--via` and `--remote-command` for a receiver on this machine talking to `socket`. */
export function localVia(socket: string): string[] {
  return ["--via", `env PIDONE_CONTROL_SOCKET=${socket}`, "--remote-command", `${process.execPath} ${BUNDLE}`];
}

const running = new Set<SyncProc>();

/** A running `pidone sync`. */
export class SyncProc {
  readonly proc: ChildProcess;
  readonly events: SyncEvent[] = [];
  stdout = "";
  stderr = "";
  exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters = new Set<() => void>();

  /** `wrap` goes before node, e.g. setpriv to run the sender as another user. */
  constructor(args: string[], wrap: readonly string[] = []) {
    const [cmd, ...argv] = [...wrap, process.execPath, BUNDLE, "sync", "--json", ...args] as [string, ...string[]];
    this.proc = spawn(cmd, argv, { env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
    const feed = eventLines<SyncEvent>((ev) => this.events.push(ev));
    this.proc.stdout?.on("data", (d: Buffer) => {
      const s = d.toString("utf8");
      this.stdout += s;
      feed(s);
      this.wake();
    });
    this.proc.stderr?.on("data", (d: Buffer) => {
      this.stderr += d.toString("utf8");
      this.wake();
    });
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => {
      this.exit = { code, signal };
      running.delete(this);
      this.wake();
      resolve(this.exit);
    }));
    running.add(this);
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  output(): string {
    return `--- sync stdout ---\n${this.stdout.slice(-4000)}\n--- sync stderr ---\n${this.stderr.slice(-4000)}`;
  }

  all(event: string): SyncEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  /** Resolve when `probe` is truthy, checked on every output; fail at the deadline or on exit. */
  until<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v) {
          done();
          resolve(v);
        } else if (this.exit) {
          done();
          reject(new Error(`pidone sync exited (${JSON.stringify(this.exit)}) while waiting for ${what}\n${this.output()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.output()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The n-th (1-based) event named `event`. */
  waitFor(event: string, n = 1, timeoutMs = 15_000): Promise<SyncEvent> {
    return this.until(() => this.all(event)[n - 1], `sync event '${event}' #${n}`, timeoutMs);
  }

  async waitExit(timeoutMs = 20_000) {
    await this.until(() => this.exit, "pidone sync to exit", timeoutMs).catch((err) => {
      if (!this.exit) throw err;
    });
    return this.exit as { code: number | null; signal: NodeJS.Signals | null };
  }

  kill(): void {
    if (!this.exit) this.proc.kill("SIGKILL");
  }
}

/** Start `pidone sync --json ARGS` (behind `wrap`, if given). */
export function startSync(args: string[], wrap: readonly string[] = []): SyncProc {
  return new SyncProc(args, wrap);
}

/** Kill every sender a test left running. */
export async function cleanupSyncs(): Promise<void> {
  await Promise.all([...running].map(async (s) => {
    s.kill();
    await Promise.race([s.exited, new Promise((r) => setTimeout(r, 3000))]);
  }));
}

/** A tree as comparable text: path, kind, exec bit, content or link target (skipping `skip` names). */
export function snapshot(root: string, skip: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel)).sort()) {
      if (skip.includes(name)) continue;
      const r = rel === "" ? name : `${rel}/${name}`;
      const abs = path.join(root, r);
      const st = lstatSync(abs);
      if (st.isSymbolicLink()) out[r] = `link ${readlinkSync(abs)}`;
      else if (st.isDirectory()) {
        out[r] = "dir";
        walk(r);
      } else out[r] = `file ${(st.mode & 0o100) !== 0 ? "x" : "-"} ${readFileSync(abs, "utf8")}`;
    }
  };
  walk("");
  return out;
}
