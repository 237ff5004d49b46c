// Raw clients of pidone's control socket, for tests that send what `pidone restart` never would,
// and a reading of a process's resident memory.
import net from "node:net";
import { readFileSync, readdirSync } from "node:fs";

export interface Exchange {
  /** Everything pidone sent before it closed (or before the deadline). */
  answer: string;
  /** pidone closed the connection (rather than the deadline passing). */
  closed: boolean;
  /** A socket error seen on the way (EPIPE after pidone closed on a client still writing). */
  error?: string;
}

/** Connect, write `chunks` in order, optionally shut down the write side (`end`), and collect
 *  the answer until pidone closes or `timeoutMs` passes. Never rejects. */
export function exchange(socketPath: string, chunks: (string | Buffer)[], opts: { end?: boolean; timeoutMs?: number } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    // allowHalfOpen: our own write side may be shut down while we still read.
    const c = net.connect({ path: socketPath, allowHalfOpen: true });
    let answer = "";
    let error: string | undefined;
    const done = (closed: boolean) => {
      clearTimeout(timer);
      c.destroy();
      resolve({ answer, closed, error });
    };
    const timer = setTimeout(() => done(false), opts.timeoutMs ?? 5000);
    c.on("connect", () => {
      for (const chunk of chunks) c.write(chunk);
      if (opts.end) c.end();
    });
    c.on("data", (d: Buffer) => (answer += d.toString("utf8")));
    c.on("error", (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
    c.on("end", () => done(true));
    c.on("close", () => done(true));
  });
}

/** The one JSON line of an answer (fails with the raw text if it is not exactly one). */
export function oneLine(x: Exchange): { ok: boolean; error?: string; [k: string]: unknown } {
  const lines = x.answer.split("\n");
  if (lines.length !== 2 || lines[1] !== "") throw new Error(`expected one answer line, got ${JSON.stringify(x.answer.slice(0, 500))} (${JSON.stringify(x)})`);
  return JSON.parse(lines[0] as string);
}

/** Resident memory of `pid` in bytes (VmRSS in /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Open file descriptors of `pid`. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
