// Moving the app's output from its pipes to pidone's stdout and stderr without copying it, and
// peeking a copy into its generation's ring.
//
// For each app pipe that has data: tee(2) duplicates what is there into a peek pipe without
// consuming it; the peek pipe is read into the ring (only the last ring-full of a large chunk:
// the rest goes to /dev/null by splice, uncopied); then splice(2) moves those same bytes from the
// app's pipe to pidone's fd 1 or 2, page references only. So the bytes cross user space once for
// the ring, against read+write's twice plus the ring.
//
// Nothing here blocks the main thread: every tee and splice is SPLICE_F_NONBLOCK, the read ends
// and pidone's fd 1 and 2 (a pipe or a socket) are O_NONBLOCK. Readiness comes from one poll(2)
// over every app pipe and every waiting output, run on one libuv threadpool thread (koffi's
// async call) and woken by a pipe of its own when the set changes; its callback does the work
// on the main thread. When an output cannot take more (EAGAIN: the log consumer is slow), what
// is owed to it stays queued as a byte count in the app's pipe, and no pipe feeding that output
// is read until it is paid: the app's pipe fills and the app blocks in write(), as it would
// writing straight into the slow consumer, and pidone holds no app bytes in memory but the ring.
// An output that cannot take a splice (EINVAL) gets read+write instead.
import { closeSync, fstatSync, openSync } from "node:fs";
import { ERRNO, POLL, type PipeSys } from "../sys/pipes.js";
import type { ByteRing } from "./ring.js";

/** The peek pipe's size: the most one tee takes from an app's pipe per round. */
const PEEK_BYTES = 1 << 20;
/** What pidone's own stdout and stderr pipes are grown to (see the constructor). */
const OUTPUT_PIPE_BYTES = 1 << 20;
/** The most rounds on one pipe per poll wake-up. */
const ROUNDS_PER_POLL = 16;
/** How long pidone's own log line waits for the app's unfinished line to end. */
export const HOLD_MS = 100;
/** At exit, how long the last bytes may wait for a stalled consumer before they are dropped. */
const EXIT_FLUSH_MS = 2000;

/** What waits to go out on one output, in order: app bytes still in a pipe, or pidone's own. */
type Segment = { app: AppPipe; n: number } | { own: Buffer };

/** One app pipe's read end and where its bytes go. */
interface AppPipe {
  fd: number;
  out: Output;
  ring: ByteRing;
  onData(): void;
  onEnd(): void;
  ended: boolean;
}

/** One of pidone's outputs (fd 1 or 2). */
interface Output {
  fd: number;
  queue: Segment[];
  /** The last app byte queued was not a newline. */
  lineOpen: boolean;
  held: Buffer[];
  holdTimer: NodeJS.Timeout | null;
  /** It cannot take a splice: read+write. */
  copy: boolean;
  /** The consumer is gone (EPIPE, ...): app bytes are still taken from the pipes, and dropped. */
  broken: boolean;
}

/** The pump behind the capture: add pipes, write pidone's own lines, flush at exit. */
export class Pump {
  private readonly outputs = new Map<number, Output>();
  private readonly pipes = new Set<AppPipe>();
  private readonly peek: [number, number];
  private readonly wake: [number, number];
  private readonly devNull: number;
  private readonly scratch: Buffer;
  private polling = false;
  /** The poll's callback is at work: it polls again when it is done. */
  private busy = false;
  private closed = false;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));

  constructor(private readonly sys: PipeSys, outputs: readonly number[], private readonly ringBytes: number) {
    this.peek = must(sys.pipe(), "pipe2 for the peek pipe");
    this.wake = must(sys.pipe(), "pipe2 for the wake pipe");
    sys.setPipeSize(this.peek[1], PEEK_BYTES);
    for (const fd of [...this.peek, ...this.wake]) sys.setNonBlocking(fd);
    this.devNull = openSync("/dev/null", "w");
    this.scratch = Buffer.allocUnsafe(Math.max(ringBytes, 64 * 1024));
    for (const fd of outputs) {
      // A pipe or a socket could block the main thread: non-blocking (a file ignores the flag).
      sys.setNonBlocking(fd);
      // The kernel wakes a writer blocked on a full pipe at once; pidone needs a poll round trip
      // per pipe-full. A 1 MiB pipe (the default /proc/sys/fs/pipe-max-size) instead of 64 KiB
      // makes those 16 times rarer (bench: 512 MiB through pidone). Only a pipe takes it.
      if (isFifo(fd)) sys.setPipeSize(fd, OUTPUT_PIPE_BYTES);
      this.outputs.set(fd, { fd, queue: [], lineOpen: false, held: [], holdTimer: null, copy: false, broken: false });
    }
    process.once("exit", () => {
      this.closed = true;
      this.stopPolling();
    });
  }

  /** Take `fd` (an app pipe's read end, made non-blocking here) to output `out`, peeking into `ring`. */
  add(fd: number, out: number, ring: ByteRing, onData: () => void, onEnd: () => void): void {
    const output = this.outputs.get(out);
    if (!output) throw new Error(`no output ${out}`);
    this.sys.setNonBlocking(fd);
    this.pipes.add({ fd, out: output, ring, onData, onEnd, ended: false });
    this.arm();
  }

  /** pidone's own line on output `fd`: at once, or after the app's unfinished line ends, or after
   *  HOLD_MS on a line of its own. */
  own(fd: number, line: string): void {
    const out = this.outputs.get(fd);
    if (!out) return;
    const buf = Buffer.from(line);
    if (this.closed) {
      out.queue.push({ own: buf });
      this.flushSync();
      return;
    }
    if (!out.lineOpen) {
      out.queue.push({ own: buf });
      this.flush(out);
      return;
    }
    out.held.push(buf);
    out.holdTimer ??= setTimeout(() => {
      out.holdTimer = null;
      this.release(out, true);
      this.flush(out);
    }, HOLD_MS);
  }

  /** Take what is waiting in the pipes that feed `ring` now, without waiting for the poll: an
   *  app that just exited may have left its last lines (a traceback) there. Pipes whose output
   *  is blocked are left as they are (their bytes are owed in order). The end of a pipe is left
   *  for the poll to find: it may be watching that descriptor. */
  settle(ring: ByteRing): void {
    for (const p of this.pipes) {
      if (p.ring !== ring) continue;
      for (let n = 0; n < ROUNDS_PER_POLL && !p.ended && p.out.queue.length === 0 && this.round(p, false); n++);
    }
  }

  /** At exit: take what the apps left in their pipes and write everything out, waiting up to
   *  EXIT_FLUSH_MS for a slow consumer. Synchronous. */
  flushSync(): void {
    this.closed = true;
    this.stopPolling();
    const until = Date.now() + EXIT_FLUSH_MS;
    for (const out of this.outputs.values()) {
      if (out.holdTimer) clearTimeout(out.holdTimer);
      out.holdTimer = null;
    }
    for (;;) {
      let waiting = false;
      for (const p of this.pipes) while (!p.ended && p.out.queue.length === 0 && this.round(p));
      for (const out of this.outputs.values()) {
        if (out.queue.length === 0) this.release(out, true);
        if (!this.flush(out)) waiting = true;
      }
      const more = [...this.pipes].some((p) => !p.ended && p.out.queue.length === 0 && this.hasData(p));
      if (!waiting && !more) return;
      if (Date.now() > until) return;
      if (waiting) Atomics.wait(this.sleeper, 0, 0, 2);
    }
  }

  /** Make a running poll return: libuv joins its threadpool when the process exits, and a
   *  thread in poll(-1) would hold the exit forever. */
  private stopPolling(): void {
    if (this.polling) this.sys.write(this.wake[1], WAKE_BYTE);
  }

  private hasData(p: AppPipe): boolean {
    const r = this.sys.tee(p.fd, this.peek[1], 1);
    if (r > 0) this.discardPeek(r);
    return r > 0;
  }

  /** Start a poll if none runs, else wake the one that runs so that it sees the new set. */
  private arm(): void {
    if (this.closed || this.busy) return;
    if (this.polling) {
      this.sys.write(this.wake[1], WAKE_BYTE);
      return;
    }
    const fds: [number, number][] = [[this.wake[0], POLL.in]];
    const watched: (AppPipe | Output)[] = [];
    for (const p of this.pipes) {
      if (p.ended || p.out.queue.length > 0) continue;
      fds.push([p.fd, POLL.in]);
      watched.push(p);
    }
    for (const out of this.outputs.values()) {
      if (out.queue.length === 0 || out.broken) continue;
      fds.push([out.fd, POLL.out]);
      watched.push(out);
    }
    const buf = Buffer.alloc(fds.length * 8);
    fds.forEach(([fd, events], i) => {
      buf.writeInt32LE(fd, i * 8);
      buf.writeInt16LE(events, i * 8 + 4);
    });
    this.polling = true;
    this.sys.pollAsync(buf, () => {
      this.polling = false;
      if (this.closed) return;
      // Drain the wake pipe: its bytes only mean "look again".
      while (this.sys.read(this.wake[0], this.scratch.subarray(0, 64)) > 0);
      this.busy = true;
      try {
        watched.forEach((w, i) => {
          const revents = buf.readInt16LE((i + 1) * 8 + 6);
          if (revents === 0) return;
          // While the app keeps its pipe fed and the output takes it, go on without a poll
          // round trip (each one is a threadpool hand-off), up to a bound that keeps the other
          // pipes and the event loop served.
          if ("ring" in w) {
            for (let n = 0; n < ROUNDS_PER_POLL && !w.ended && w.out.queue.length === 0 && this.round(w); n++);
          } else if (this.flush(w)) {
            for (const p of this.pipes) {
              if (p.out !== w) continue;
              for (let n = 0; n < ROUNDS_PER_POLL && !p.ended && w.queue.length === 0 && this.round(p); n++);
            }
          }
        });
      } finally {
        this.busy = false;
      }
      this.arm();
    });
  }

  /** One round on an app pipe: tee what is there, keep it in the ring, move it out; at its end
   *  (when `mayEnd`) close it. Returns whether it took anything. */
  private round(p: AppPipe, mayEnd = true): boolean {
    const k = this.sys.tee(p.fd, this.peek[1], PEEK_BYTES);
    if (k === -ERRNO.EAGAIN || k === -ERRNO.EINTR) return false;
    if (k <= 0 && !mayEnd) return false;
    if (k <= 0) {
      // The end (every writer gone), or an error that will not go away: stop reading it.
      p.ended = true;
      this.pipes.delete(p);
      closeQuietly(p.fd);
      p.onEnd();
      return false;
    }
    const kept = this.readPeek(k, p.ring);
    const out = p.out;
    // pidone's held lines go right after the chunk's last newline.
    const nl = out.held.length > 0 ? p.ring.since(p.ring.total - kept).lastIndexOf(0x0a) : -1;
    if (nl >= 0) {
      const cut = k - kept + nl + 1;
      out.queue.push({ app: p, n: cut });
      this.release(out, false);
      if (k > cut) out.queue.push({ app: p, n: k - cut });
    } else out.queue.push({ app: p, n: k });
    out.lineOpen = p.ring.last() !== 0x0a;
    this.flush(out);
    p.onData();
    return true;
  }

  /** Empty the peek pipe of its `k` bytes into `ring`: what the ring cannot hold goes to
   *  /dev/null by splice, the rest is read straight into the ring (one copy, no allocation).
   *  Returns how many bytes the ring took. */
  private readPeek(k: number, ring: ByteRing): number {
    let skip = Math.max(0, k - this.ringBytes);
    while (skip > 0) {
      const r = this.sys.splice(this.peek[0], this.devNull, skip);
      if (r <= 0) break;
      skip -= r;
    }
    ring.skip(Math.max(0, k - this.ringBytes));
    return ring.appendFrom(Math.min(k, this.ringBytes), (dst) => this.sys.read(this.peek[0], dst));
  }

  private discardPeek(k: number): void {
    while (k > 0) {
      const r = this.sys.read(this.peek[0], this.scratch.subarray(0, Math.min(k, this.scratch.length)));
      if (r <= 0) return;
      k -= r;
    }
  }

  /** pidone's held lines join the queue (on a line of their own if the app's is unfinished). */
  private release(out: Output, breakLine: boolean): void {
    if (out.holdTimer) clearTimeout(out.holdTimer);
    out.holdTimer = null;
    if (out.held.length === 0) return;
    if (breakLine && out.lineOpen) out.queue.push({ own: Buffer.from("\n") });
    out.lineOpen = false;
    for (const b of out.held.splice(0)) out.queue.push({ own: b });
  }

  /** Write what `out` owes until it would block, then poll for what is left (a wait for the
   *  output, or the pipes it frees). Returns whether the queue is empty. */
  private flush(out: Output): boolean {
    while (out.queue.length > 0) {
      const seg = out.queue[0] as Segment;
      const r = "own" in seg ? this.writeOwn(out, seg) : this.moveApp(out, seg);
      if (r === "wait") {
        this.arm();
        return false;
      }
      if (r === "done") out.queue.shift();
    }
    if (!this.closed) this.arm();
    return true;
  }

  private writeOwn(out: Output, seg: { own: Buffer }): "done" | "more" | "wait" {
    if (out.broken) return "done";
    const r = this.sys.write(out.fd, seg.own);
    if (r === -ERRNO.EAGAIN) return "wait";
    if (r === -ERRNO.EINTR) return "more";
    if (r < 0) {
      out.broken = true;
      return "done";
    }
    seg.own = seg.own.subarray(r);
    return seg.own.length === 0 ? "done" : "more";
  }

  private moveApp(out: Output, seg: { app: AppPipe; n: number }): "done" | "more" | "wait" {
    let r: number;
    if (out.broken) r = this.sys.splice(seg.app.fd, this.devNull, seg.n);
    else if (out.copy) {
      // read+write: the bytes read go first, as pidone's own bytes would, then the rest.
      r = this.sys.read(seg.app.fd, this.scratch.subarray(0, Math.min(seg.n, this.scratch.length)));
      if (r > 0) {
        seg.n -= r;
        if (seg.n === 0) out.queue.shift();
        out.queue.unshift({ own: Buffer.from(this.scratch.subarray(0, r)) });
        return "more";
      }
    } else {
      r = this.sys.splice(seg.app.fd, out.fd, seg.n);
      if (r === -ERRNO.EINVAL) {
        out.copy = true;
        return "more";
      }
    }
    if (r === -ERRNO.EAGAIN) return "wait";
    if (r === -ERRNO.EINTR) return "more";
    if (r <= 0) {
      // The output refused for good (EPIPE: nobody reads): keep emptying the pipes, into /dev/null.
      if (!out.broken) {
        out.broken = true;
        return "more";
      }
      return "done";
    }
    seg.n -= r;
    return seg.n === 0 ? "done" : "more";
  }
}

const WAKE_BYTE = Buffer.from([1]);

function must(p: [number, number] | number, what: string): [number, number] {
  if (typeof p === "number") throw new Error(`${what} failed: errno ${-p}`);
  return p;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

function isFifo(fd: number): boolean {
  try {
    return fstatSync(fd).isFIFO();
  } catch {
    return false;
  }
}
