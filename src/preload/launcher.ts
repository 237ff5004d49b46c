// --preload: a zygote interpreter that imported the heavy third-party modules once, and forks
// each app generation from itself (src/preload/zygote.py). To the runner this is only another
// Spawner: a generation's pid comes a little later, and its exit status comes from the zygote,
// whose child it is (or, if the zygote dies first, from the process tree, which then reaps it). Whenever the zygote cannot be trusted (a module changed on disk, a thread
// appeared, it died), that generation starts cold, with one log line, and a fresh zygote is made
// in the background for the next one.
import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "pino";
import { ConfigError } from "../errors.js";
import { LineSplitter } from "../line-splitter.js";
import { plainSpawner, type AppStdio, type Spawner, type SpawnVia } from "../child/spawn.js";
import { describeStatus, fromNodeExit, signalName, type ExitStatus } from "../exit-status.js";
import type { PythonCommand } from "./command.js";
import { ownCode } from "./own-code.js";
import ZYGOTE_SOURCE from "./zygote.py";

/** Run by `python3 [options] -c`: reads the zygote's source from fd 3 (up to a NUL byte, sent
 *  before anything else) and runs it in a module namespace of its own, not in __main__. */
const BOOTSTRAP = [
  "import os",
  "b=b''",
  "while not b.endswith(b'\\0'):",
  " c=os.read(3,65536)",
  " if not c: raise SystemExit(70)",
  " b+=c",
  "exec(compile(b[:-1],'<pidone-zygote>','exec'),{'__name__':'_pidone_zygote'})",
].join("\n");

/** A fork takes milliseconds; a zygote that has not answered after this is not going to. */
const FORK_TIMEOUT_MS = 5_000;
/** A reply longer than this is a broken zygote, not a message. */
const MAX_LINE = 16 << 20;

/** What --preload needs. */
export interface PreloadOptions {
  python: PythonCommand;
  modules: readonly string[];
  cwd: string;
  /** Directories whose code is the app's own (the working directory, --watch paths). */
  guarded: readonly string[];
  /** Every --listen descriptor pidone holds: the zygote inherits them all, each fork gets its
   *  generation's (they are fd 4, 5, ... in the zygote). */
  heldFds: readonly number[];
  /** pidone's stdin is a terminal: each generation gets its own process group in pidone's
   *  session, made the terminal's foreground, as the exec shim does for a cold one
   *  (child/spawn.ts). */
  terminal?: boolean;
  /** The app's command, for cold generations. */
  command: string;
  args: readonly string[];
  log: Logger;
}

interface Ready {
  ms: number;
  modules: number;
  new: [string, string][];
  threads: number;
  stdlib: string;
}

type Reply = { op: "forked"; pid: number; checkMs?: number; forkMs?: number } | { op: "stale"; file: string } | { op: "unsafe"; threads: number };

/** One zygote process and the protocol with it. */
class Zygote {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly ready: Promise<Ready>;
  alive = true;
  status: ExitStatus | null = null;
  private readonly replies: ((r: Reply | null) => void)[] = [];
  /** Generations it forked whose exit it has not reported yet (it reports each, unless it dies first). */
  readonly generations = new Map<number, (s: ExitStatus) => void>();
  onExit: (z: Zygote) => void = () => {};

  constructor(opts: PreloadOptions) {
    const { python } = opts;
    const config = { modules: opts.modules, cwd: opts.cwd, guarded: opts.guarded, terminal: opts.terminal === true, run: python.run, args: python.args, origArgv: python.origArgv };
    let settle!: { resolve: (r: Ready) => void; reject: (e: Error) => void };
    this.ready = new Promise<Ready>((resolve, reject) => (settle = { resolve, reject }));
    this.ready.catch(() => {}); // also awaited by whoever needs it
    // Its own session (or, with a terminal, its own process group in pidone's session, which its
    // generations must share to take the terminal): a terminal's ^C or a stop of the app's group
    // never reaches it.
    this.proc = spawn(python.interpreter, [...python.options, "-c", BOOTSTRAP, JSON.stringify(config)], {
      cwd: opts.cwd, env: process.env, detached: opts.terminal !== true, windowsHide: true,
      stdio: ["inherit", "inherit", "inherit", "pipe", ...opts.heldFds],
    });
    this.pid = this.proc.pid ?? -1;
    let isReady = false;
    this.proc.on("error", (err: NodeJS.ErrnoException) => {
      if (this.proc.pid !== undefined) return;
      this.alive = false;
      settle.reject(new Error(err.code === "ENOENT" ? `${python.interpreter}: command not found` : `${python.interpreter}: ${err.message}`));
    });
    this.proc.once("exit", (code, signal) => {
      this.alive = false;
      this.status = fromNodeExit(code, signal);
      if (!isReady) settle.reject(new Error(`${python.interpreter} exited (${describeStatus(this.status)}) before it finished preloading`));
      for (const r of this.replies.splice(0)) r(null);
      this.onExit(this);
    });
    const ctl = this.proc.stdio[3] as import("node:net").Socket | null;
    if (!ctl) return;
    ctl.on("error", () => {}); // the zygote's exit tells what happened
    ctl.write(`${ZYGOTE_SOURCE}\0`);
    const lines = new LineSplitter(MAX_LINE);
    ctl.on("data", (chunk: Buffer) => {
      for (const ev of lines.push(chunk)) {
        if (ev.kind === "too-long") {
          this.kill();
          return;
        }
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(ev.line) as Record<string, unknown>;
        } catch {
          continue;
        }
        switch (msg.op) {
          case "ready":
            isReady = true;
            settle.resolve(msg as unknown as Ready);
            break;
          case "own-code":
            settle.reject(new ConfigError(ownCodeMessage({ module: String(msg.module), file: String(msg.file), dir: String(msg.dir) })));
            break;
          case "import-error":
            settle.reject(new ConfigError(`--preload ${String(msg.module)}: ${String(msg.message)}`));
            break;
          case "forked":
          case "stale":
          case "unsafe":
            this.replies.shift()?.(msg as unknown as Reply);
            break;
          case "exit": {
            const pid = Number(msg.pid);
            const status = zygoteExit(msg);
            const done = this.generations.get(pid);
            this.generations.delete(pid);
            done?.(status);
            break;
          }
        }
      }
    });
    this.ctl = ctl;
  }

  private ctl: import("node:net").Socket | null = null;

  /** Ask for a fork; the reply is null if the zygote died first. A zygote that does not answer
   *  in time (stopped, stuck) is killed: its exit answers null, and the generation starts cold. */
  fork(env: NodeJS.ProcessEnv, fds: number[], stdio: readonly string[] | undefined, reply: (r: Reply | null) => void): void {
    if (!this.alive || !this.ctl) return reply(null);
    const timer = setTimeout(() => this.kill(), FORK_TIMEOUT_MS);
    this.replies.push((r) => {
      clearTimeout(timer);
      reply(r);
    });
    this.ctl.write(`${JSON.stringify({ op: "fork", env, fds, ...(stdio ? { stdio } : {}) })}\n`);
  }

  /** Let it end once the generations it forked have ended (their exits still come through it). */
  retire(): void {
    if (this.alive) this.ctl?.write(`${JSON.stringify({ op: "retire" })}\n`);
  }

  kill(): void {
    if (!this.alive) return;
    try {
      process.kill(this.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Start the zygote and wait until it has preloaded `modules`. Throws ConfigError when a module
 *  does not import, is the app's own code, or the interpreter does not start. */
export async function startPreload(opts: PreloadOptions): Promise<PreloadSpawner> {
  const z = new Zygote(opts);
  let ready: Ready;
  try {
    ready = await z.ready;
  } catch (err) {
    z.kill();
    throw err instanceof ConfigError ? err : new ConfigError(`--preload: ${(err as Error).message}`);
  }
  const own = ownCode(ready.new, opts.guarded, ready.stdlib);
  if (own !== null) {
    z.kill();
    throw new ConfigError(ownCodeMessage(own));
  }
  const spawner = new PreloadSpawner(opts, z);
  opts.log.info({ event: "preload-ready", pid: z.pid, modules: opts.modules, imported: ready.new.length, ms: ready.ms });
  if (ready.threads > 1) spawner.turnOff("threads", { threads: ready.threads });
  return spawner;
}

function ownCodeMessage(own: { module: string; file: string; dir: string }): string {
  return `--preload: module '${own.module}' is the app's own code (${own.file} is under ${own.dir}); preload third-party libraries only`;
}

type StartHandlers = Parameters<Spawner["start"]>[0];

/** Starts generations as forks of the zygote, or cold when it cannot be trusted. */
export class PreloadSpawner implements Spawner {
  readonly helpers = new Set<number>();
  private zygote: Zygote | null = null;
  private off: string | null = null;
  private readonly cold: Spawner;

  constructor(private readonly opts: PreloadOptions, first: Zygote) {
    this.cold = plainSpawner(opts.command, opts.args, opts.terminal);
    this.adopt(first);
  }

  /** Preloading is off for good (logged once): every generation starts cold. */
  turnOff(reason: string, fields: Record<string, unknown> = {}): void {
    this.off = reason;
    this.zygote?.retire();
    this.zygote = null;
    this.opts.log.warn({ event: "preload-off", reason, ...fields, note: "every generation starts cold" });
  }

  start(handlers: StartHandlers, via?: SpawnVia, stdio?: AppStdio): void {
    const z = this.zygote;
    if (this.off !== null) return this.cold.start(handlers, via, stdio);
    if (z === null || !z.alive) return this.startCold(handlers, via, stdio, { reason: "zygote-exited", ...(z?.status ? { status: describeStatus(z.status) } : {}) });
    const fds = (via?.fds ?? []).map((fd) => this.opts.heldFds.indexOf(fd));
    if (fds.includes(-1)) return this.startCold(handlers, via, stdio, { reason: "unknown-descriptor" });
    // The capture's pipes (src/output/): the fork opens them anew through pidone's /proc entry,
    // a second open of the same pipe, as its stdout and stderr.
    const paths = stdio?.map((fd) => (fd > 2 ? `/proc/${process.pid}/fd/${fd}` : ""));
    const t0 = performance.now();
    // A zygote made after a cold generation may still be importing: it started earlier than a
    // cold interpreter would now, so waiting for it is never slower.
    z.ready.then(
      () => z.fork(via?.env ?? process.env, fds, paths, (reply) => {
        if (reply === null) return this.startCold(handlers, via, stdio, { reason: "zygote-exited", ...(z.status ? { status: describeStatus(z.status) } : {}) });
        if (reply.op === "stale") return this.startCold(handlers, via, stdio, { reason: "module-changed", file: reply.file });
        if (reply.op === "unsafe") return this.startCold(handlers, via, stdio, { reason: "threads", threads: reply.threads });
        // Its status comes once: from the zygote, or from the process tree if the zygote died first.
        let ended = false;
        const done = (status: ExitStatus) => {
          if (ended) return;
          ended = true;
          z.generations.delete(reply.pid);
          handlers.onExit(status);
        };
        z.generations.set(reply.pid, done);
        this.opts.log.debug({ event: "preload-forked", pid: reply.pid, zygote: z.pid, ms: Math.round((performance.now() - t0) * 100) / 100, checkMs: reply.checkMs, forkMs: reply.forkMs });
        handlers.onSpawned(reply.pid, { kind: "parent", orphaned: done });
      }),
      (err: Error) => this.startCold(handlers, via, stdio, { reason: "preload-failed", error: err.message }),
    );
  }

  /** Kill every zygote (pidone is ending). */
  close(): void {
    this.zygote?.kill();
    this.zygote = null;
  }

  /** This generation starts cold (one log line says why); a fresh zygote is made meanwhile. */
  private startCold(handlers: StartHandlers, via: SpawnVia | undefined, stdio: AppStdio | undefined, why: Record<string, unknown>): void {
    this.opts.log.info({ event: "preload-cold", ...why });
    this.cold.start(handlers, via, stdio);
    if (this.off !== null) return;
    this.zygote?.retire();
    this.zygote = null;
    let z: Zygote;
    try {
      z = new Zygote(this.opts);
    } catch (err) {
      // spawn() can throw synchronously (EAGAIN, ENOMEM): the next generation tries again, cold.
      this.opts.log.warn({ event: "preload-zygote-failed", error: (err as Error).message });
      return;
    }
    this.adopt(z);
    z.ready.then((ready) => {
      if (this.zygote !== z) return;
      const own = ownCode(ready.new, this.opts.guarded, ready.stdlib);
      if (own !== null) return this.turnOff("own-code", { module: own.module, file: own.file });
      this.opts.log.debug({ event: "preload-ready", pid: z.pid, modules: this.opts.modules, imported: ready.new.length, ms: ready.ms });
    }, () => {});
  }

  private adopt(z: Zygote): void {
    this.zygote = z;
    if (z.pid > 0) this.helpers.add(z.pid);
    z.onExit = () => {
      this.helpers.delete(z.pid);
      if (this.zygote === z) this.opts.log.debug({ event: "preload-zygote-exited", pid: z.pid, status: z.status ? describeStatus(z.status) : null });
      // Its running generations were re-parented to pidone (PID 1 or subreaper): the process tree
      // reaps them and reports their status (child/tree.ts). z.generations stays: an exit the
      // zygote reported before it died may still be read from its pipe.
    };
  }
}

/** A generation's status as the zygote reports it: `signal` (a number) or `code`. */
function zygoteExit(msg: Record<string, unknown>): ExitStatus {
  return typeof msg.signal === "number" ? { code: null, signal: signalName(msg.signal) } : { code: Number(msg.code), signal: null };
}
