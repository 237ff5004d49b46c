// The status report: what `pidone status` prints and what the health server's /status serves,
// built in one place from the supervisor's snapshot.
import type { StatusSnapshot } from "../supervisor/events.js";
import type { StatusReport } from "./protocol.js";
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
    supervisorPid: process.pid,
  };
}
