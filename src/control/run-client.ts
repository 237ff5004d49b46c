// `pidone restart` / `pidone status` as a command: parse, ask the running pidone, print.
import type { Invocation } from "../cli/program.js";
import { parseDuration } from "../cli/config.js";
import { releaseEarlySignals } from "../sources/signals.js";
import { CLIENT_EXIT, formatStatus, request } from "./client.js";

/** Run `pidone restart` or `pidone status`; returns the exit code (documented in the README). */
export async function runClient(inv: Extract<Invocation, { kind: "client" }>): Promise<number> {
  // A client is an ordinary process: give Ctrl-C back its default meaning.
  releaseEarlySignals();
  const socket = inv.socket ?? process.env.PIDONE_CONTROL_SOCKET ?? "/tmp/pidone.sock";
  const timeoutMs = inv.timeout === undefined ? 30_000 : parseDuration(inv.timeout, "s", "--timeout");
  const req = inv.action === "restart" ? { cmd: "restart" as const, timeoutMs } : { cmd: "status" as const };
  // The client's own deadline leaves the server time to report its timeout first.
  const res = await request(socket, req, inv.action === "restart" ? timeoutMs + 2000 : 5000);
  const r = res.response;
  if (!r || !r.ok) {
    process.stderr.write(`pidone ${inv.action}: ${res.error ?? (r && !r.ok ? r.error : "failed")}\n`);
    return res.code === CLIENT_EXIT.ok ? CLIENT_EXIT.failed : res.code;
  }
  if ("status" in r) process.stdout.write(`${inv.json ? JSON.stringify(r.status) : formatStatus(r.status)}\n`);
  else process.stdout.write(`${r.pid}\n`);
  return CLIENT_EXIT.ok;
}

