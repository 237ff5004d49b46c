// What `pidone sync` tells its user: each event as a line for people (`pidone sync: ...`) or, with
// --json, as one JSON object, and the line that sums up a batch. Portable.
import type { RestartOutcome } from "./protocol.js";

/** What one batch did, for the report line. */
export interface BatchReport {
  files: number;
  bytes: number;
  deletes: number;
  applyMs: number;
  restart: RestartOutcome;
}

/** Human form of a batch report: `synced 3 files (12 KB) in 40 ms; restarted pid 12 -> 19 in 5 ms; up after 310 ms`. */
export function formatReport(r: BatchReport): string {
  const what = [`${r.files} file${r.files === 1 ? "" : "s"} (${formatBytes(r.bytes)})`];
  if (r.deletes > 0) what.push(`${r.deletes} deletion${r.deletes === 1 ? "" : "s"}`);
  let line = `synced ${what.join(", ")} in ${r.applyMs} ms`;
  const x = r.restart;
  const pids = (o: number | null, n: number | null) => `pid ${o ?? "-"} -> ${n ?? "-"}`;
  if (x.kind === "up") line += `; restarted ${pids(x.oldPid, x.newPid)} in ${x.restartMs} ms; up after ${x.upMs} ms`;
  else if (x.kind === "crashed") line += `; restarted ${pids(x.oldPid, x.newPid)} in ${x.restartMs} ms; the new app CRASHED (${x.status}): fix and save, the next batch restarts it`;
  else if (x.kind === "failed") line += `; restart FAILED: ${x.error}`;
  else line += "; no restart asked";
  return line;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** The sender's one way out to the user: events on `out`, warnings on `err`. */
export class Reporter {
  constructor(private json: boolean, private out: (line: string) => void, private err: (line: string) => void) {}

  /** An event: JSON with --json, else its human line (none when `human` is empty). */
  event(event: string, fields: Record<string, unknown>, human: string): void {
    if (!this.json && human === "") return;
    this.out(this.json ? JSON.stringify({ event, t: Date.now(), ...fields }) : `pidone sync: ${human}`);
  }

  /** A warning, on stderr in both modes. */
  warn(line: string): void {
    this.err(`pidone sync: ${line}`);
  }
}
