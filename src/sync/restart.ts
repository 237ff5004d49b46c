// After a batch, the receiver asks the pidone beside it (over its control socket) for a restart
// and reports pidone's own account of it: the restart answer's outcome (ready, up through the
// settle window, crashed with its status, or with --overlap the old generation kept serving).
// Then it keeps an eye on the new generation for a while, so a later crash is reported too.
import { request } from "../control/client.js";
import type { RestartResult } from "../control/protocol.js";
import type { RestartOutcome } from "./protocol.js";
import { latestTail } from "./output-follow.js";

/** Without a readiness check, how long the new generation must keep running to count as up. */
export const UP_SETTLE_MS = 300;
/** After "up", how long the receiver keeps an eye on it: an app slower to start than
 *  UP_SETTLE_MS (Node under load) that then dies is still reported, as a `crashed` notice. */
export const AFTER_WATCH_MS = 10_000;
const AFTER_POLL_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ask for a restart and report its outcome as pidone saw it. Never throws. */
export async function restartAndWatch(socket: string, timeoutMs: number): Promise<RestartOutcome> {
  const res = await request(socket, { cmd: "restart", timeoutMs, wait: "ready", settleMs: UP_SETTLE_MS }, timeoutMs + 2000);
  const r = res.response;
  if (!r) return { kind: "failed", error: res.error ?? "no answer from pidone" };
  if ("status" in r) return { kind: "failed", error: "unexpected answer from pidone" };
  const o = r.outcome;
  if (!o) return { kind: "failed", error: r.ok ? "pidone's answer has no outcome" : r.error };
  // ok false with an outcome: the new code crashed, or --overlap kept the old generation.
  return syncOutcome(o, () => latestTail(socket));
}

/** The sync protocol's form of pidone's restart outcome: the same facts, under the names the
 *  sender reads. `latestTail`: what the last process pidone started printed, for a crash whose
 *  answer lacks its tail, and for --overlap's kept outcome, whose failed attempt is that process
 *  (pidone's tail is looked up by the generation's number, which the failed attempts of
 *  --overlap share, so it can be an earlier attempt's). */
export async function syncOutcome(o: RestartResult, latestTail: () => Promise<string | null> = async () => null): Promise<RestartOutcome> {
  const base = { oldPid: o.oldPid, generation: o.generation, restartMs: o.ms };
  switch (o.kind) {
    case "ready":
      return { kind: "ready", ...base, newPid: o.pid, how: o.how };
    case "running":
      return { kind: "up", ...base, newPid: o.pid, upMs: 0 };
    case "up":
      return { kind: "up", ...base, newPid: o.pid, upMs: o.upMs };
    case "crashed":
      return { kind: "crashed", ...base, newPid: o.pid, status: o.status, upMs: o.upMs, tail: o.tail ?? await latestTail() };
    case "kept":
      return { kind: "kept", ...base, oldPid: o.oldPid, newPid: o.pid, reason: o.reason, status: o.status, tail: await latestTail() ?? o.tail };
  }
}

/** Follow generation `pid` for AFTER_WATCH_MS (or until `stop` aborts); resolves with its exit
 *  status if it exits on its own meanwhile, else null (a restart that replaces it is no news).
 *  Never throws. */
export async function watchAfter(socket: string, pid: number, stop: AbortSignal): Promise<string | null> {
  const until = performance.now() + AFTER_WATCH_MS;
  while (!stop.aborted && performance.now() < until) {
    await sleep(AFTER_POLL_MS);
    if (stop.aborted) return null;
    const st = await request(socket, { cmd: "status" }, 5000);
    const s = st.response?.ok && "status" in st.response ? st.response.status : null;
    if (!s) return null;
    if (s.lastCrash?.pid === pid) return stop.aborted ? null : s.lastCrash.status;
    if (s.pid !== pid) return null;
  }
  return null;
}
