// What `pidone sync` tells its user: each event as a line for people (`pidone sync: ...`) or, with
// --json, as one JSON object; the line that sums up a batch, from pidone's own account of the
// restart; and what the app printed, each line behind a `│ ` gutter (or as `output` events), its
// container paths shown as the matching LOCAL_DIR paths. Portable.
import { StringDecoder } from "node:string_decoder";
import type { RestartOutcome } from "./protocol.js";

/** What one batch did, for the report line. */
export interface BatchReport {
  files: number;
  bytes: number;
  deletes: number;
  applyMs: number;
  restart: RestartOutcome;
}

/** The mark in front of every line the app printed, so pidone sync's own lines stand apart. */
export const GUTTER = "│ ";
/** How long an unfinished line of the app's output waits for its end before it is shown. */
const PARTIAL_LINE_MS = 150;

/** Human form of a batch report: `synced 3 files (12 KB) in 40 ms; restarted pid 12 -> 19 in 310 ms; up 0.3 s`. */
export function formatReport(r: BatchReport): string {
  const what = [`${r.files} file${r.files === 1 ? "" : "s"} (${formatBytes(r.bytes)})`];
  if (r.deletes > 0) what.push(`${r.deletes} deletion${r.deletes === 1 ? "" : "s"}`);
  return `synced ${what.join(", ")} in ${r.applyMs} ms; ${formatOutcome(r.restart)}`;
}

/** Human form of a restart outcome, as pidone observed it. */
export function formatOutcome(x: RestartOutcome): string {
  const restarted = (o: number | null, n: number | null, ms: number) => `restarted pid ${o ?? "-"} -> ${n ?? "-"} in ${Math.round(ms)} ms`;
  switch (x.kind) {
    case "ready":
      return `${restarted(x.oldPid, x.newPid, x.restartMs)}; ready (${x.how === "handover" ? "it took over the listening socket" : `${x.how} readiness check passed`})`;
    case "up":
      return `${restarted(x.oldPid, x.newPid, x.restartMs)}; up ${(x.upMs / 1000).toFixed(1)} s (no readiness check)`;
    case "crashed":
      return `${restarted(x.oldPid, x.newPid, x.restartMs)}; the new code ${exited(x.status)} after ${Math.round(x.upMs)} ms: fix and save, pidone waits for the next change`;
    case "kept":
      return `kept pid ${x.oldPid} serving; the new code ${x.status === null ? x.reason : exited(x.status)}: fix and save`;
    case "failed":
      return `restart FAILED: ${x.error}`;
    case "skipped":
      return "no restart asked";
  }
}

/** `exit 1` -> `exited 1`; any other status (a signal) as it is. */
function exited(status: string): string {
  const m = /^exit (\d+)$/.exec(status);
  return m ? `exited ${m[1]}` : `ended (${status})`;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** The sender's one way out to the user: events and the app's output on `out`, warnings on `err`. */
export class Reporter {
  private decoder = new StringDecoder("utf8");
  private partial = "";
  private partialId = 0;
  private timer: NodeJS.Timeout | null = null;
  private mapPaths: (text: string) => string = (t) => t;

  constructor(private json: boolean, private out: (line: string) => void, private err: (line: string) => void) {}

  /** An event: JSON with --json, else its human line (none when `human` is empty). */
  event(event: string, fields: Record<string, unknown>, human: string): void {
    if (!this.json && human === "") return;
    this.flushOutput();
    this.out(this.json ? JSON.stringify({ event, t: Date.now(), ...fields }) : `pidone sync: ${human}`);
  }

  /** A warning, on stderr in both modes. */
  warn(line: string): void {
    this.err(`pidone sync: ${line}`);
  }

  /** How the app's output names files: container paths shown as LOCAL_DIR paths. */
  mapOutputPaths(map: (text: string) => string): void {
    this.mapPaths = map;
  }

  /** The restart outcome of batch `id`; a crash's tail (the traceback) follows it as output. */
  restart(id: number, outcome: RestartOutcome): void {
    const tail = "tail" in outcome ? outcome.tail : null;
    if (this.json) return this.event("restart", { id, ...outcome, ...(tail === null ? {} : { tail: this.mapPaths(tail) }) }, "");
    if (tail === null) return;
    this.flushOutput();
    this.show(id, tail.endsWith("\n") ? tail : `${tail}\n`);
  }

  /** Bytes the app printed after batch `id`: whole lines at once, an unfinished one after a pause. */
  output(id: number, data: Buffer): void {
    if (id !== this.partialId) this.flushOutput();
    this.partialId = id;
    const text = this.partial + this.decoder.write(data);
    const nl = text.lastIndexOf("\n");
    this.partial = text.slice(nl + 1);
    if (nl >= 0) this.show(id, text.slice(0, nl + 1));
    if (this.partial !== "" && this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flushOutput();
      }, PARTIAL_LINE_MS);
      this.timer.unref?.();
    }
  }

  /** `bytes` of the app's output after batch `id` did not reach the laptop in time. */
  skipped(id: number, bytes: number): void {
    this.flushOutput();
    if (this.json) this.event("output-skipped", { id, bytes }, "");
    else this.out(`${GUTTER}[... ${bytes} bytes skipped]`);
  }

  /** Show an unfinished line of output now (before pidone sync's own next line). */
  flushOutput(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const rest = this.partial + this.decoder.end();
    this.decoder = new StringDecoder("utf8");
    this.partial = "";
    if (rest !== "") this.show(this.partialId, `${rest}\n`);
  }

  /** Whole lines of output (each ending in a newline), path-mapped, behind the gutter or as one event. */
  private show(id: number, lines: string): void {
    const text = this.mapPaths(lines);
    if (this.json) {
      this.out(JSON.stringify({ event: "output", t: Date.now(), id, stream: "app", text }));
      return;
    }
    for (const line of text.slice(0, -1).split("\n")) this.out(`${GUTTER}${line.replace(/\r$/, "")}`);
  }
}
