// pidone keeps what the app printed. Each generation's stdout and stderr are pipes pidone holds
// (created with pipe2 through koffi: real pipes, so an app can still open /dev/stdout); every byte
// read from them is written unchanged to pidone's own stdout or stderr, in the order read, and
// copied into that generation's ring (the last generations' recent output, both streams as they
// arrived) for `pidone logs` and the crash report.
//
// The bytes move by tee(2) and splice(2), driven by poll(2) on a threadpool thread: src/output/pump.ts.
import { closeSync } from "node:fs";
import type { AppStdio, Spawner } from "../child/spawn.js";
import type { PipeSys } from "../sys/pipes.js";
import { ByteRing } from "./ring.js";
import { Pump } from "./pump.js";

/** How much is kept: `ringBytes` per generation, for the last `generations` generations. */
export interface CaptureLimits {
  ringBytes: number;
  generations: number;
}

/** 256 KiB per generation (a traceback and a few screens of log), for the last 4 generations. */
export const DEFAULT_LIMITS: CaptureLimits = { ringBytes: 256 * 1024, generations: 4 };

/** The app's pipes are made this large (from 64 KiB), so that a fast writer seldom waits for
 *  pidone's next poll round trip, and each round moves more. */
const APP_PIPE_BYTES = 1 << 20;
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

/** The capture of every generation's output. */
export class OutputCapture implements OutputSource {
  private readonly kept: GenerationOutput[] = [];
  private readonly listeners = new Set<(e: OutputEvent) => void>();
  private readonly pump: Pump;
  private started = 0;

  /** Capture the streams whose `capture` flag is set (pidone's fd 1 and 2 that are not terminals). */
  constructor(private readonly sys: PipeSys, private readonly capture: readonly [boolean, boolean], private readonly limits: CaptureLimits = DEFAULT_LIMITS) {
    this.pump = new Pump(sys, [1, 2].filter((fd) => capture[fd - 1]), limits.ringBytes);
  }

  /** pidone's own log line: through the stderr sink when stderr is captured, so it never lands
   *  inside the app's unfinished line; null if stderr is not captured. */
  logSink(): ((line: string) => void) | null {
    return this.capture[1] ? (line) => this.pump.own(2, line) : null;
  }

  /** `spawner` with each generation's stdout and stderr captured. */
  wrap(spawner: Spawner): Spawner {
    return {
      helpers: spawner.helpers,
      start: (handlers, via) => {
        const gen = this.open(handlers.generation);
        const pipes = this.capture.map((c) => (c ? this.pipe() : null));
        const stdio: AppStdio = [pipes[0]?.[1] ?? 1, pipes[1]?.[1] ?? 2];
        // Once the app has its copies (a spawn dup'ed them, a --preload fork opened them before
        // it was reported), pidone keeps only the read ends: the app's exit is then their end.
        let writeEnds = pipes.flatMap((p) => (p === null ? [] : [p[1]]));
        const closeWriteEnds = () => {
          for (const fd of writeEnds) closeQuietly(fd);
          writeEnds = [];
        };
        try {
          spawner.start({
            ...handlers,
            onSpawned: (pid, collector) => {
              closeWriteEnds();
              gen.pid = pid;
              this.emit({ kind: "generation", gen });
              handlers.onSpawned(pid, collector);
            },
            onError: (errno, message) => {
              closeWriteEnds();
              handlers.onError(errno, message);
            },
          }, via, stdio);
        } catch (err) {
          closeWriteEnds();
          throw err;
        }
        let open = 0;
        pipes.forEach((p, i) => {
          if (p === null) return;
          open++;
          this.pump.add(p[0], i + 1, gen.ring, () => this.emit({ kind: "data", gen }), () => {
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
    const gen = [...this.kept].reverse().find((g) => g.generation === generation);
    if (!gen) return null;
    const { ring } = gen;
    this.pump.settle(ring);
    const from = Math.max(ring.lineOffset(TAIL_LINES), ring.total - TAIL_BYTES);
    return ring.since(from).toString("utf8");
  }

  /** At exit: read what the apps left in their pipes, then write everything out. */
  close(): void {
    this.pump.flushSync();
  }

  /** A new generation's record, numbered as the supervisor numbers it (else one more than the last). */
  private open(generation?: number): GenerationOutput {
    this.started = generation ?? this.started + 1;
    const gen: GenerationOutput = { generation: this.started, pid: null, ring: new ByteRing(this.limits.ringBytes), open: true };
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
