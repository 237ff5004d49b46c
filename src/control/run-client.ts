// `pidone restart` / `pidone status` as a command: parse, ask the running pidone, print.
import type { Invocation } from "../cli/program.js";
import { ConfigError } from "../errors.js";
import { parseDuration } from "../cli/config.js";
import { controlSocketPath } from "../cli/control-socket-path.js";
import { releaseEarlySignals } from "../boot/release-early-signals.js";
import { CLIENT_EXIT } from "../exit-code.js";
import { formatStatus, request } from "./client.js";
import {
  DEFAULT_RESTART_TIMEOUT_MS, DEFAULT_SETTLE_MS, MAX_RESTART_TIMEOUT_MS, MAX_SETTLE_MS, type ControlRequest, type ControlResponse, type RestartResult,
} from "./protocol.js";

/** How long `pidone status` waits for an answer, pidone busy included. */
const STATUS_TIMEOUT_MS = 10_000;

/** Run `pidone restart` or `pidone status`; returns the exit code (documented in the README). */
export async function runClient(inv: Extract<Invocation, { kind: "client" }>): Promise<number> {
  // A client is an ordinary process: give Ctrl-C back its default meaning.
  releaseEarlySignals();
  const socket = controlSocketPath(inv.socket);
  const timeoutMs = inv.timeout === undefined ? (inv.action === "restart" ? DEFAULT_RESTART_TIMEOUT_MS : STATUS_TIMEOUT_MS) : parseDuration(inv.timeout, "s", "--timeout");
  if (timeoutMs < 1 || timeoutMs > MAX_RESTART_TIMEOUT_MS) throw new ConfigError(`--timeout: '${inv.timeout}' is out of range (use 1ms to 1h)`);
  const wait = (inv.wait ?? "ready").trim().toLowerCase();
  if (wait !== "ready" && wait !== "running") throw new ConfigError(`--wait: invalid value '${inv.wait}' (use ready or running)`);
  const settleMs = inv.settle === undefined ? DEFAULT_SETTLE_MS : parseDuration(inv.settle, "s", "--settle");
  if (settleMs > MAX_SETTLE_MS) throw new ConfigError(`--settle: '${inv.settle}' is out of range (use 0 to 10m)`);
  const req: ControlRequest = inv.action === "restart" ? { cmd: "restart", timeoutMs, wait, settleMs } : { cmd: "status" };
  // The client's own deadline leaves the server time to report its timeout first.
  const res = await request(socket, req, inv.action === "restart" ? timeoutMs + 2000 : timeoutMs);
  const r = res.response;
  if (!r || !r.ok) {
    process.stderr.write(`pidone ${inv.action}: ${res.error ?? (r && !r.ok ? r.error : "failed")}\n`);
    if (r && !r.ok) writeTail(r);
    return res.code === CLIENT_EXIT.ok ? CLIENT_EXIT.failed : res.code;
  }
  if ("status" in r) process.stdout.write(`${inv.json ? JSON.stringify(r.status) : formatStatus(r.status)}\n`);
  else {
    // The pid alone on stdout, for scripts; how it went on stderr, for people.
    process.stdout.write(`${r.pid}\n`);
    if (r.ms !== undefined) process.stderr.write(`pidone restart: pid ${r.pid} ${describeSuccess(r.outcome, wait)} after ${r.ms} ms\n`);
  }
  return CLIENT_EXIT.ok;
}

/** "ready", "running", or "up (stayed up N ms; no readiness check)". */
function describeSuccess(o: RestartResult | undefined, wait: string): string {
  if (o?.kind === "up") return `up (stayed up ${o.upMs} ms; no readiness check)`;
  return o?.kind ?? wait;
}

/** What the exited generation printed last, under a line that says so. */
function writeTail(r: Extract<ControlResponse, { ok: false }>): void {
  const o = r.outcome;
  if (!o || (o.kind !== "crashed" && o.kind !== "kept") || o.tail === null || o.tail === "") return;
  process.stderr.write(`pidone restart: the last output of generation ${o.generation}:\n${o.tail}${o.tail.endsWith("\n") ? "" : "\n"}`);
}

