// The one process wrapper of the test helpers: start a process marked as the suite's (so the global
// teardown finds it if a test leaves it behind), capture its output, and wait for what it prints
// with a deadline. `until()` lives here once; pidone, `pidone sync` and a container's log use it.
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";

/** The environment variable that marks every process of one test run (value: the run's id). */
export const RUN_MARKER = "PIDONE_TEST_RUN";
/** The environment variable naming the test file that started a process. */
export const FILE_MARKER = "PIDONE_TEST_FILE";

/** `env` plus the run's markers, so the global teardown can find what a test leaves running. */
export function marked(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const k of [RUN_MARKER, FILE_MARKER]) if (process.env[k] !== undefined) out[k] = process.env[k];
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

/** Something whose output a test waits on: output wakes the waiters; `until()` checks a probe on
 *  every wake, resolves with its first value, and fails at the deadline or once nothing more can come. */
export abstract class Waitable {
  private waiters = new Set<() => void>();
  protected abstract readonly defaultTimeoutMs: number;

  protected wake(): void {
    for (const w of this.waiters) w();
  }

  /** Why waiting can no longer succeed (the process exited, the log closed), or null. */
  protected abstract ended(): string | null;

  /** The captured output, for failure messages. */
  protected abstract captured(): string;

  /** What a timeout reports: the output, and for some the process tree. */
  protected timeoutReport(): string {
    return this.captured();
  }

  /** Resolve when `probe` returns a value, or fail at the deadline. `probe` is checked on every
   *  output and on exit (a probe that throws fails the wait); pass `pollMs` only for conditions
   *  no output announces (/proc state). */
  until<T>(probe: () => T | undefined | null | false, what: string, timeoutMs = this.defaultTimeoutMs, pollMs?: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        let v: T | undefined | null | false;
        try {
          v = probe();
        } catch (err) {
          done();
          reject(err);
          return;
        }
        const end = v !== undefined && v !== null && v !== false ? null : this.ended();
        if (v !== undefined && v !== null && v !== false) {
          done();
          resolve(v);
        } else if (end !== null) {
          done();
          reject(new Error(`${end} while waiting for ${what}\n${this.captured()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        let report: string;
        try {
          report = this.timeoutReport();
        } catch (err) {
          report = `${this.captured()}\n--- report failed: ${(err as Error).message} ---`;
        }
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${report}`));
      }, timeoutMs);
      const poller = pollMs === undefined ? null : setInterval(check, pollMs);
      const done = () => {
        clearTimeout(timer);
        if (poller) clearInterval(poller);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
}

/** How a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WatchedOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Named in failure messages, e.g. "pidone sync". */
  label: string;
  defaultTimeoutMs?: number;
}

/** A running process (marked as the suite's) with its stdout and stderr captured; subclasses read
 *  the chunks through `onStdout`/`onStderr`. It never throws from an event handler: a spawn error
 *  counts as an exit. */
export class Watched extends Waitable {
  readonly proc: ChildProcess;
  readonly label: string;
  stdoutBytes = Buffer.alloc(0);
  stderrText = "";
  exit: Exit | null = null;
  readonly exited: Promise<Exit>;
  protected readonly defaultTimeoutMs: number;
  private spawnError: Error | null = null;

  constructor(cmd: string, argv: readonly string[], opts: WatchedOptions) {
    super();
    this.label = opts.label;
    this.defaultTimeoutMs = opts.defaultTimeoutMs ?? 10_000;
    const stdio: StdioOptions = ["ignore", "pipe", "pipe"];
    this.proc = spawn(cmd, argv, { cwd: opts.cwd, env: marked(opts.env), stdio });
    this.proc.stdout?.on("data", (d: Buffer) => {
      this.stdoutBytes = Buffer.concat([this.stdoutBytes, d]);
      this.onStdout(d);
      this.wake();
    });
    this.proc.stderr?.on("data", (d: Buffer) => {
      const s = d.toString("utf8");
      this.stderrText += s;
      this.onStderr(s);
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      const finish = (e: Exit) => {
        if (this.exit) return;
        this.exit = e;
        this.wake();
        resolve(e);
      };
      this.proc.on("exit", (code, signal) => finish({ code, signal }));
      this.proc.on("error", (err) => {
        this.spawnError = err;
        finish({ code: null, signal: null });
      });
    });
  }

  protected onStdout(_chunk: Buffer): void {}
  protected onStderr(_chunk: string): void {}

  protected ended(): string | null {
    if (this.spawnError) return `${this.label} could not start (${this.spawnError.message})`;
    return this.exit ? `${this.label} exited (${JSON.stringify(this.exit)})` : null;
  }

  protected captured(): string {
    return this.output();
  }

  /** stdout and stderr so far (their last part), for failure messages. */
  output(): string {
    const out = this.stdoutBytes.toString("utf8");
    return `--- ${this.label} stdout (${out.length} chars, last 3000) ---\n${out.slice(-3000)}\n--- ${this.label} stderr (last 6000) ---\n${this.stderrText.slice(-6000)}`;
  }

  /** Wait for the process to exit; its exit. */
  async waitExit(timeoutMs = this.defaultTimeoutMs): Promise<Exit> {
    await this.until(() => this.exit, `${this.label} to exit`, timeoutMs).catch((err: Error) => {
      if (!this.exit) throw err;
    });
    return this.exit as Exit;
  }

  /** SIGKILL it (if still running) and wait for the exit, at most `graceMs`. */
  async kill(graceMs = 5000): Promise<void> {
    if (this.exit) return;
    this.proc.kill("SIGKILL");
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, graceMs).unref())]);
  }
}

/** What a process run to completion printed, and its exit code. */
export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (marked as the suite's) and capture its output; SIGKILL and fail
 *  at the deadline. `input` is written to its stdin. */
export async function runToEnd(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string | Buffer } = {}): Promise<Result> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const c = spawn(cmd, args, { env: marked(opts.env ?? process.env), cwd: opts.cwd, stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  c.stdout?.on("data", (d) => (stdout += d));
  c.stderr?.on("data", (d) => (stderr += d));
  // A stdin closed early (the command did not read it) is not the test's failure.
  c.stdin?.on("error", () => {});
  if (opts.input !== undefined) c.stdin?.end(opts.input);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      c.kill("SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ")} timed out after ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    c.on("error", (err) => {
      clearTimeout(t);
      reject(new Error(`${cmd} could not start: ${err.message}`));
    });
    c.on("exit", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
