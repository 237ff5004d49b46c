// The lifecycle of the sender's session with one receiver, as a union whose data belongs to its
// state, and its pure transitions (session.ts runs the work of each state). Imports no node:* module.
import type { BatchReport } from "./report.js";
import type { Connection } from "./transport.js";
import type { Entry } from "./tree.js";

/** The first wait before reconnecting. */
export const BACKOFF_MIN_MS = 500;
/** The longest wait before reconnecting. */
export const BACKOFF_MAX_MS = 10_000;

/** How a session ended (only --once ends one): the sender turns it into its exit code. */
export type SessionEnd = "ok" | "failed" | "transport";

/** Where a session is. `model` is the sender's view of the receiver's tree. */
export type SessionState =
  /** Starting the transport, exchanging hellos, reading the receiver's tree; should it fail,
   *  the session waits `retryMs` before the next attempt. */
  | { kind: "connecting"; retryMs: number }
  /** Connected: comparing the trees and sending what differs, as one batch. */
  | { kind: "reconciling"; conn: Connection; model: Map<string, Entry> }
  /** In sync: each settled batch of watched changes is sent. */
  | { kind: "live"; conn: Connection; model: Map<string, Entry> }
  /** The transport was lost or the receiver refused: reconnecting after `delayMs`. */
  | { kind: "backoff"; delayMs: number }
  /** Over (--once): how it went. */
  | { kind: "closed"; end: SessionEnd };

/** A session starts by connecting. */
export const initialSession = (): SessionState => ({ kind: "connecting", retryMs: BACKOFF_MIN_MS });

/** Connected, with the receiver's tree: reconcile. */
export function connected(conn: Connection, model: Map<string, Entry>): SessionState {
  return { kind: "reconciling", conn, model };
}

/** The reconcile is done (`first`: its batch, null when nothing differed): with --once the
 *  session is over, ok only if the restart came up (or ready) or none was asked; otherwise it goes live. */
export function reconciled(s: Extract<SessionState, { kind: "reconciling" }>, first: BatchReport | null, once: boolean): SessionState {
  if (!once) return { kind: "live", conn: s.conn, model: s.model };
  return { kind: "closed", end: first === null || ["up", "ready", "skipped"].includes(first.restart.kind) ? "ok" : "failed" };
}

/** The transport was lost (`refused`: the receiver said why) in state `from`. With --once that
 *  ends the session; otherwise it reconnects after a backoff that doubles while connecting keeps
 *  failing and starts over once a connection got through. */
export function lost(from: SessionState, refused: boolean, once: boolean): SessionState {
  if (once) return { kind: "closed", end: refused ? "failed" : "transport" };
  return { kind: "backoff", delayMs: from.kind === "connecting" ? from.retryMs : BACKOFF_MIN_MS };
}

/** The backoff is over: connect again, and wait twice as long (at most BACKOFF_MAX_MS) should that fail. */
export function retry(s: Extract<SessionState, { kind: "backoff" }>): SessionState {
  return { kind: "connecting", retryMs: Math.min(BACKOFF_MAX_MS, s.delayMs * 2) };
}
