// The status report: what `pidone status` prints and what the health server's /status serves,
// built in one place from the supervisor's snapshot.
import type { Crash, StatusSnapshot } from "../supervisor/events.js";
import type { CrashReport, StatusReport } from "./protocol.js";
import { describeStatus } from "../exit-status.js";

/** Build the report `pidone status` prints and GET /status answers. */
export function report(s: StatusSnapshot, now: number): StatusReport {
  return {
    state: s.state,
    pid: s.pid,
    generation: s.generation,
    uptimeMs: s.startedAt === null ? null : Math.round(now - s.startedAt),
    restarts: s.restarts,
    lastExit: describeStatus(s.lastExit),
    lastRestartReason: s.lastRestartReason,
    ...(s.lastRestartFailure ? { lastRestartFailure: `${s.lastRestartFailure.reason}${s.lastRestartFailure.status ? ` (${describeStatus(s.lastRestartFailure.status)})` : ""}` } : {}),
    ...(s.lastCrash ? { lastCrash: crashReport(s.lastCrash, now) } : {}),
    supervisorPid: process.pid,
  };
}

function crashReport(c: Crash, now: number): CrashReport {
  return {
    generation: c.generation, pid: c.pid > 0 ? c.pid : null, status: describeStatus(c.status) as string,
    upMs: Math.round(c.upMs), agoMs: Math.max(0, Math.round(now - c.at)), afterChange: c.afterChange,
  };
}
