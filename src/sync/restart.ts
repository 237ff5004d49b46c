// After a batch, the receiver asks the pidone beside it (over its control socket) for a restart
// and watches the new generation through its first moments, so the sender can say "up" or
// "crashed: exit 1". "Up" = the restart answer with wait "ready" (the new app process runs and,
// when pidone has --ready-http/--ready-tcp, that check passes) and then `status` still showing
// that same pid running UP_SETTLE_MS later, so a crash during start-up is caught too.
import { request } from "../control/client.js";
import type { RestartOutcome } from "./protocol.js";

/** How long the new generation must keep running to count as up. */
export const UP_SETTLE_MS = 300;
/** After "up", how long the receiver keeps an eye on it: an app slower to start than
 *  UP_SETTLE_MS (Node under load) that then dies is still reported, as a `crashed` notice. */
export const AFTER_WATCH_MS = 10_000;
const AFTER_POLL_MS = 100;
const POLL_MS = 25;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ask for a restart and follow the new generation for UP_SETTLE_MS. Never throws. */
export async function restartAndWatch(socket: string, timeoutMs: number): Promise<RestartOutcome> {
  const before = await request(socket, { cmd: "status" }, 5000);
  if (!before.response) return { kind: "failed", error: before.error ?? "no status from pidone" };
  const oldPid = before.response.ok && "status" in before.response ? before.response.status.pid : null;
  const t0 = performance.now();
  const res = await request(socket, { cmd: "restart", timeoutMs, wait: "ready" }, timeoutMs + 2000);
  const restartMs = Math.round(performance.now() - t0);
  const r = res.response;
  if (!r) return { kind: "failed", error: res.error ?? "no answer from pidone" };
  if (!r.ok) {
    // The new generation died before the answer: report its exit status, as a crash.
    const st = await request(socket, { cmd: "status" }, 5000);
    const status = st.response?.ok && "status" in st.response ? st.response.status : null;
    if (status && /failed|crashed|exited/.test(r.error)) return { kind: "crashed", oldPid, newPid: null, restartMs, status: status.lastExit ?? "unknown" };
    return { kind: "failed", error: r.error };
  }
  if (!("pid" in r)) return { kind: "failed", error: "unexpected answer from pidone" };
  const newPid = r.pid;
  const settleUntil = performance.now() + UP_SETTLE_MS;
  for (;;) {
    const st = await request(socket, { cmd: "status" }, 5000);
    const s = st.response?.ok && "status" in st.response ? st.response.status : null;
    if (!s) return { kind: "failed", error: st.error ?? "no status from pidone after the restart" };
    if (s.pid !== newPid || s.state !== "running") {
      // Gone, or already replaced by a crash restart: the exit is the news.
      return { kind: "crashed", oldPid, newPid, restartMs, status: s.lastExit ?? s.state };
    }
    if (performance.now() >= settleUntil) return { kind: "up", oldPid, newPid, restartMs, upMs: Math.round(performance.now() - t0) };
    await sleep(POLL_MS);
  }
}

/** Follow generation `pid` for AFTER_WATCH_MS (or until `stop` aborts); resolves with its exit
 *  status if it dies meanwhile, else null. Never throws. */
export async function watchAfter(socket: string, pid: number, stop: AbortSignal): Promise<string | null> {
  const until = performance.now() + AFTER_WATCH_MS;
  while (!stop.aborted && performance.now() < until) {
    await sleep(AFTER_POLL_MS);
    if (stop.aborted) return null;
    const st = await request(socket, { cmd: "status" }, 5000);
    const s = st.response?.ok && "status" in st.response ? st.response.status : null;
    if (!s) return null;
    if (s.pid !== pid || s.state !== "running") return stop.aborted ? null : s.lastExit ?? s.state;
  }
  return null;
}
