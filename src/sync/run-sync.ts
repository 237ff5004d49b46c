// `pidone sync` as a command: judge the options once, then run the sender.
import type { Invocation } from "../cli/program.js";
import { SYNC_EXIT } from "../exit-code.js";
import { runSync } from "./sender.js";
import { splitCommand } from "./transport.js";
import { parseDuration } from "../cli/config.js";
import { releaseEarlySignals } from "../boot/release-early-signals.js";

/** Run `pidone sync`; returns the exit code. */
export async function runSyncCommand(inv: Extract<Invocation, { kind: "sync" }>): Promise<number> {
  // A sender is an ordinary process: give Ctrl-C back its default meaning.
  releaseEarlySignals();
  let via: string[];
  let remoteCommand: string[];
  let debounceMs: number | null;
  try {
    via = splitCommand(inv.via ?? "");
    remoteCommand = splitCommand(inv.remoteCommand ?? "pidone");
    if (remoteCommand.length === 0) throw new Error("--remote-command is empty (e.g. --remote-command 'node /opt/pidone/pidone.cjs')");
    debounceMs = inv.debounce === undefined ? null : parseDuration(inv.debounce, "ms", "--debounce");
  } catch (err) {
    process.stderr.write(`pidone sync: ${(err as Error).message}\n`);
    return SYNC_EXIT.usage;
  }
  return runSync({
    localDir: inv.localDir,
    remoteDir: inv.remoteDir,
    via,
    remoteCommand,
    once: inv.once,
    deleteExtra: inv.deleteExtra,
    restart: inv.restart,
    ignore: inv.ignore,
    debounceMs,
    json: inv.json,
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
  });
}
