// Entry point: argv -> the supervisor, the control client, sync/receive or the exec shim, each module loaded
// only on the path that needs it (so `pidone restart` does not pay for the supervisor's). The
// only place that ends the process, and the one that reports a bad configuration (exit 2).
import { parseArgs } from "./cli/program.js";
import { EXEC_SHIM_ARG } from "./child/exec-shim-arg.js";
import { normalizeConfig } from "./cli/config.js";
import { ConfigError } from "./errors.js";
import { EXIT } from "./exit-code.js";

declare const PIDONE_VERSION: string;
const VERSION = typeof PIDONE_VERSION === "string" ? PIDONE_VERSION : "0.0.0-dev";

const exit = (code: number): never => process.exit(code);

async function main(argv: string[]): Promise<void> {
  if (argv[0] === EXEC_SHIM_ARG) exit(await (await import("./child/exec-shim.js")).runExecShim(argv.slice(1)));
  try {
    const inv = parseArgs(argv, VERSION);
    if (inv.kind === "done") exit(0);
    if (inv.kind === "client") exit(await (await import("./control/run-client.js")).runClient(inv));
    if (inv.kind === "logs") exit(await (await import("./control/logs-client.js")).runLogs(inv));
    // The sender runs on laptops (macOS, Windows): its path loads src/sync/* and nothing Linux-only.
    if (inv.kind === "sync") exit(await (await import("./sync/run-sync.js")).runSyncCommand(inv));
    if (inv.kind === "receive") exit(await (await import("./sync/run-receive.js")).runReceive(inv));
    if (inv.kind !== "run") return;
    const config = normalizeConfig(inv.raw, inv.command, process.env, process.cwd());
    await (await import("./supervise.js")).supervise(config, exit);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pidone: ${err.message}\n`);
      exit(EXIT.usage);
    }
    throw err;
  }
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`pidone: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
  exit(EXIT.internalError);
});
