// pidone keeps what the app printed. Each generation's stdout and stderr are pipes pidone holds
// (created with pipe2 through koffi: real pipes, so an app can still open /dev/stdout); every byte
// read from them is written unchanged to pidone's own stdout or stderr, in the order read, and
// copied into that generation's ring (the last generations' recent output, both streams as they
// arrived) for `pidone logs` and the crash report.
//
// The data path runs on the main thread, driven by libuv: a generation's pipe is read by a
// net.Socket (epoll readiness, up to 32 reads of 64 KiB per wakeup), and each chunk goes out with
// one write(2) to pidone's fd 1 or 2, which are non-blocking (for a pipe or a socket; a file
// never blocks). A write that cannot finish (EAGAIN: the log consumer is slow) keeps the rest
// and pauses every reader of that stream until the consumer has taken it: the app then fills its
// pipe and blocks in write(), as it would writing straight into a slow consumer, and pidone holds
// at most one chunk per reader. Readiness for the rest comes from libuv too: its first byte is
// handed to a net.Socket on the same fd, whose write callback runs once the fd is writable.
// The app's pipe is 1 MiB (F_SETPIPE_SZ), so a fast writer fills whole 64 KiB reads and the
// per-chunk cost is spread over more bytes.
import { closeSync, fstatSync, readSync } from "node:fs";
import type { Socket } from "node:net";
import { net } from "../lazy-net.js";
import type { AppStdio, Spawner } from "../child/spawn.js";
import type { PipeSys } from "../sys/pipes.js";
import { ByteRing } from "./ring.js";

/** How much is kept: `ringBytes` per generation, for the last `generations` generations. */
export interface CaptureLimits {
  ringBytes: number;
  generations: number;
}

/** 256 KiB per generation (a traceback and a few screens of log), for the last 4 generations. */
export const DEFAULT_LIMITS: CaptureLimits = { ringBytes: 256 * 1024, generations: 4 };

/** The app's pipes are made this large, so that a fast writer fills whole reads. */
const APP_PIPE_BYTES = 1 << 20;
/** How long pidone's own log line waits for the app's unfinished stderr line to end. */
const HOLD_MS = 100;
/** At exit, how long the last bytes may wait for a stalled consumer before they are dropped. */
const EXIT_FLUSH_MS = 2000;
/** outputTail's bounds: the last lines of a generation, as text. */
const TAIL_LINES = 40;
const TAIL_BYTES = 16 * 1024;

/** One generation's kept output. */
export interface GenerationOutput {
  generation: number;
  /** null until the app's pid is known (or if it never started). */
  pid: number | null;
  ring: ByteRing;
  /** Its pipes are still open (the app, or something it left behind, may write). */
  open: boolean;
}

/** What `pidone logs` follows: a generation started, or wrote more. */
export type OutputEvent = { kind: "generation"; gen: GenerationOutput } | { kind: "data"; gen: GenerationOutput };

/** The capture as the control server and the runner see it. */
export interface OutputSource {
  /** The kept generations, oldest first. */
  generations(): readonly GenerationOutput[];
  /** Be told of new generations and new output; returns the unsubscribe function. */
  follow(listener: (e: OutputEvent) => void): () => void;
  /** The last lines of that generation's output (both streams as they arrived), as text; null
   *  if it is not kept. */
  outputTail(generation: number): string | null;
}

/** One of pidone's own outputs (fd 1 or 2), written by every generation's reader of that stream
 *  and, for fd 2, by pidone's logger. */
class Sink {
  /** Bytes accepted but not yet written, oldest first. */
  private readonly pending: Buffer[] = [];
  /** The byte handed to `waiter` for readiness, until its callback says it is out. */
  private inflight: Buffer | null = null;
  private waiter: Socket | null = null;
  private readonly paused = new Set<() => void>();
  /** The last byte accepted from an app was not a newline. */
  private lineOpen = false;
  private held: Buffer[] = [];
  private holdTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** The consumer is gone (EPIPE and the like): bytes are still kept, no longer forwarded. */
  private broken = false;
  readonly blocks: boolean;

  constructor(readonly fd: number, private readonly sys: PipeSys) {
    let st;
    try {
      st = fstatSync(fd);
    } catch {
      st = null;
    }
    // Only a pipe or a socket can make a writer wait; those are made non-blocking (libuv does it
    // for the socket below), a file or /dev/null is written as is.
    this.blocks = st !== null && (st.isFIFO() || st.isSocket());
    if (this.blocks) this.waiter = new (net().Socket)({ fd, readable: false, writable: true });
    this.waiter?.on("error", () => this.breakOff());
  }

  /** Accept an app's chunk. Returns false when the reader must pause until `resume` is called. */
  fromApp(chunk: Buffer, resume: () => void): boolean {
    if (this.held.length > 0) {
      const nl = chunk.indexOf(0x0a);
      if (nl >= 0) {
        this.enqueue(chunk.subarray(0, nl + 1));
        this.releaseHeld(false);
        chunk = chunk.subarray(nl + 1);
      }
    }
    if (chunk.length > 0) {
      this.lineOpen = chunk[chunk.length - 1] !== 0x0a;
      this.enqueue(chunk);
    }
    if (this.pending.length === 0) return true;
    this.paused.add(resume);
    return false;
  }

  /** pidone's own line (ending in a newline): written at once, or after the app's unfinished
   *  line ends, or after HOLD_MS on a line of its own. */
  own(line: string): void {
    const buf = Buffer.from(line);
    if (this.closed) {
      this.enqueue(buf);
      this.flushSync();
      return;
    }
    if (!this.lineOpen) return this.enqueue(buf);
    this.held.push(buf);
    this.holdTimer ??= setTimeout(() => this.releaseHeld(true), HOLD_MS);
  }

  private releaseHeld(breakLine: boolean): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    if (this.held.length === 0) return;
    if (breakLine && this.lineOpen) this.enqueue(Buffer.from("\n"));
    this.lineOpen = false;
    for (const b of this.held.splice(0)) this.enqueue(b);
  }

  private enqueue(buf: Buffer): void {
    if (this.broken) return;
    if (this.pending.length === 0 && this.inflight === null) {
      const rest = this.writeNow(buf);
      if (rest === null || rest.length === 0) return;
      buf = rest;
    }
    this.pending.push(buf);
    this.waitWritable();
  }

  /** Write what the fd takes now; returns the rest (empty when all went, null when broken). */
  private writeNow(buf: Buffer): Buffer | null {
    let off = 0;
    while (off < buf.length) {
      const n = this.sys.write(this.fd, buf.subarray(off));
      if (n === -11) break; // EAGAIN
      if (n === -4) continue; // EINTR
      if (n < 0) {
        this.breakOff();
        return null;
      }
      off += n;
    }
    return buf.subarray(off);
  }

  /** Hand one byte to libuv, whose callback means the fd took it: then write the rest. */
  private waitWritable(): void {
    if (this.inflight !== null || this.closed || this.pending.length === 0 || this.waiter === null) return;
    const first = this.pending[0] as Buffer;
    this.pending[0] = first.subarray(1);
    this.inflight = first.subarray(0, 1);
    this.waiter.write(this.inflight, (err) => {
      this.inflight = null;
      if (err) return this.breakOff();
      this.drain();
    });
  }

  private drain(): void {
    while (this.pending.length > 0) {
      const rest = this.writeNow(this.pending[0] as Buffer);
      if (rest === null) return;
      if (rest.length > 0) {
        this.pending[0] = rest;
        return this.waitWritable();
      }
      this.pending.shift();
    }
    const resumes = [...this.paused];
    this.paused.clear();
    for (const r of resumes) r();
  }

  private breakOff(): void {
    this.broken = true;
    this.pending.length = 0;
    const resumes = [...this.paused];
    this.paused.clear();
    for (const r of resumes) r();
  }

  /** At exit: write everything still held, waiting up to EXIT_FLUSH_MS for a slow consumer. */
  flushSync(): void {
    this.closed = true;
    this.releaseHeld(true);
    const sleeper = new Int32Array(new SharedArrayBuffer(4));
    const until = Date.now() + EXIT_FLUSH_MS;
    // The byte handed to libuv is still queued there if its callback has not run; it goes first.
    if (this.inflight !== null) {
      this.pending.unshift(this.inflight);
      this.inflight = null;
      this.waiter?.destroy();
      this.waiter = null;
    }
    while (this.pending.length > 0 && !this.broken) {
      const rest = this.writeNow(this.pending[0] as Buffer);
      if (rest === null) break;
      if (rest.length === 0) {
        this.pending.shift();
        continue;
      }
      this.pending[0] = rest;
      if (Date.now() > until) break;
      Atomics.wait(sleeper, 0, 0, 2);
    }
    this.pending.length = 0;
  }
}

/** The capture of every generation's output. */
export class OutputCapture implements OutputSource {
  private readonly kept: GenerationOutput[] = [];
  private readonly listeners = new Set<(e: OutputEvent) => void>();
  private readonly sinks: [Sink | null, Sink | null];
  private readonly readers = new Set<{ drainSync(): void }>();
  private started = 0;

  /** Capture the streams whose `capture` flag is set (pidone's fd 1 and 2 that are not terminals). */
  constructor(private readonly sys: PipeSys, capture: readonly [boolean, boolean], private readonly limits: CaptureLimits = DEFAULT_LIMITS) {
    this.sinks = [capture[0] ? new Sink(1, sys) : null, capture[1] ? new Sink(2, sys) : null];
  }

  /** pidone's own log line: through the stderr sink when stderr is captured, so it never lands
   *  inside the app's unfinished line; null if stderr is not captured. */
  logSink(): ((line: string) => void) | null {
    const err = this.sinks[1];
    return err === null ? null : (line) => err.own(line);
  }

  /** `spawner` with each generation's stdout and stderr captured. */
  wrap(spawner: Spawner): Spawner {
    return {
      helpers: spawner.helpers,
      start: (handlers, via) => {
        const gen = this.open();
        const pipes = this.sinks.map((s) => (s === null ? null : this.pipe()));
        const stdio: AppStdio = [pipes[0]?.[1] ?? 1, pipes[1]?.[1] ?? 2];
        try {
          spawner.start({
            ...handlers,
            onSpawned: (pid) => {
              gen.pid = pid;
              this.emit({ kind: "generation", gen });
              handlers.onSpawned(pid);
            },
          }, via, stdio);
        } finally {
          // The app has its copies (the spawn dup'ed them); pidone keeps only the read ends.
          for (const p of pipes) if (p !== null) closeQuietly(p[1]);
        }
        let open = 0;
        pipes.forEach((p, i) => {
          if (p === null) return;
          open++;
          this.read(gen, p[0], this.sinks[i] as Sink, () => {
            if (--open === 0) gen.open = false;
          });
        });
        if (open === 0) gen.open = false;
      },
    };
  }

  generations(): readonly GenerationOutput[] {
    return this.kept;
  }

  follow(listener: (e: OutputEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  outputTail(generation: number): string | null {
    const gen = this.kept.find((g) => g.generation === generation);
    if (!gen) return null;
    const { ring } = gen;
    const from = Math.max(ring.lineOffset(TAIL_LINES), ring.total - TAIL_BYTES);
    return ring.since(from).toString("utf8");
  }

  /** At exit: read what the apps left in their pipes, then write everything out. */
  close(): void {
    for (const r of [...this.readers]) r.drainSync();
    for (const s of this.sinks) s?.flushSync();
  }

  private open(): GenerationOutput {
    const gen: GenerationOutput = { generation: ++this.started, pid: null, ring: new ByteRing(this.limits.ringBytes), open: true };
    this.kept.push(gen);
    while (this.kept.length > this.limits.generations) this.kept.shift();
    return gen;
  }

  /** A pipe for one stream: [read end, write end], or null (the stream is then inherited). */
  private pipe(): [number, number] | null {
    const p = this.sys.pipe();
    if (typeof p === "number") return null;
    this.sys.setPipeSize(p[1], APP_PIPE_BYTES);
    return p;
  }

  private read(gen: GenerationOutput, fd: number, sink: Sink, onEnd: () => void): void {
    const sock = new (net().Socket)({ fd, readable: true, writable: false });
    const take = (chunk: Buffer) => {
      gen.ring.append(chunk);
      this.emit({ kind: "data", gen });
      if (!sink.fromApp(chunk, () => sock.resume())) sock.pause();
    };
    const reader = {
      // Exit: what the socket has buffered, then what is still in the pipe (the fd is non-blocking).
      drainSync: () => {
        let chunk: Buffer | null;
        while ((chunk = sock.read() as Buffer | null) !== null) take(chunk);
        const buf = Buffer.allocUnsafe(64 * 1024);
        for (;;) {
          let n: number;
          try {
            n = readSync(fd, buf, 0, buf.length, null);
          } catch {
            break;
          }
          if (n <= 0) break;
          take(Buffer.from(buf.subarray(0, n)));
        }
      },
    };
    this.readers.add(reader);
    sock.on("data", take);
    sock.on("error", () => sock.destroy());
    sock.once("close", () => {
      this.readers.delete(reader);
      onEnd();
    });
  }

  private emit(e: OutputEvent): void {
    for (const l of this.listeners) l(e);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
