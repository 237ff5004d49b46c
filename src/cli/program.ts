// The command line: commander turns argv into raw option strings; config.ts validates them.
import { Command, CommanderError, Option } from "commander";
import { ConfigError } from "../errors.js";
import { DEFAULTS, type RawOptions } from "./config.js";

/** What the command line asks for. */
export type Invocation =
  | { kind: "run"; raw: RawOptions; command: string[] }
  | { kind: "client"; action: "restart" | "status"; socket?: string; timeout?: string; wait?: string; settle?: string; json: boolean }
  | {
      kind: "sync"; localDir: string; remoteDir: string; via?: string; remoteCommand?: string; once: boolean;
      deleteExtra: boolean; restart: boolean; ignore: string[]; debounce?: string; json: boolean;
    }
  | { kind: "receive"; remoteDir: string; socket?: string; timeout?: string }
  | { kind: "logs"; socket?: string; follow: boolean; tail?: string; generation?: string; previous: boolean }
  | { kind: "done" };

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

function env(name: string, extra = ""): string {
  return `(env ${name}${extra})`;
}

/** Parse argv (without node and script). Throws ConfigError for anything malformed. */
export function parseArgs(argv: readonly string[], version: string): Invocation {
  // `pidone restart` / `pidone status` talk to a running pidone. Checked before commander so an
  // app that happens to be called "restart" still works after `--`.
  if (argv[0] === "restart" || argv[0] === "status") return parseClient(argv[0], argv.slice(1), version);
  if (argv[0] === "sync") return parseSync(argv.slice(1), version);
  if (argv[0] === "receive") return parseReceive(argv.slice(1), version);
  if (argv[0] === "logs") return parseLogs(argv.slice(1), version);

  const program = new Command("pidone")
    .usage("[options] -- <command> [args...]\n       pidone restart [--socket PATH] [--timeout DURATION] [--wait ready|running] [--settle DURATION]\n       pidone status [--socket PATH] [--json] [--timeout DURATION]\n       pidone logs [--follow] [--tail N] [--generation N | --previous]\n       pidone sync LOCAL_DIR REMOTE_DIR --via PREFIX [--once] (see pidone sync --help)")
    .description("PID 1 for containers: runs <command> as its child, forwards signals, reaps zombies, and restarts the app in place on SIGUSR1, a trigger file, file changes, `pidone restart` or a crash.")
    .version(version, "-V, --version")
    .argument("[command...]", "the app and its arguments, passed as-is (no shell)")
    .passThroughOptions()
    .addOption(new Option("--stop-timeout <duration>", `grace period after the stop signal before SIGKILL ${env("PIDONE_STOP_TIMEOUT", `, default ${DEFAULTS.stopTimeout}`)}`))
    .addOption(new Option("--single-child", `signal only the app process, not its process group; for pre-fork servers such as gunicorn ${env("PIDONE_SINGLE_CHILD")}`))
    .addOption(new Option("--restart <policy>", `when the app exits on its own: on-failure, always or never ${env("PIDONE_RESTART", ", default on-failure")}`))
    .addOption(new Option("--max-restarts <n>", `give up after this many crash restarts within --restart-window ${env("PIDONE_MAX_RESTARTS", `, default ${DEFAULTS.maxRestarts}`)}`))
    .addOption(new Option("--restart-window <duration>", `window for --max-restarts ${env("PIDONE_RESTART_WINDOW", `, default ${DEFAULTS.restartWindow}`)}`))
    .addOption(new Option("--change-window <duration>", `an app started by a change or a restart request that exits within this long waits for the next one instead of counting as a crash; 0 turns it off ${env("PIDONE_CHANGE_WINDOW", `, default ${DEFAULTS.changeWindow}`)}`))
    .addOption(new Option("--every-crash-counts", `every crash enters the backoff and counts toward --max-restarts, even right after a change ${env("PIDONE_EVERY_CRASH_COUNTS")}`))
    .addOption(new Option("--stop-signal <signal>", `signal a stop or restart sends the app; a SIGTERM to pidone is sent as this ${env("PIDONE_STOP_SIGNAL", ", default SIGTERM")}`))
    .addOption(new Option("--restart-signal <signal>", `signal that restarts the app (not forwarded) ${env("PIDONE_RESTART_SIGNAL", ", default SIGUSR1")}`))
    .addOption(new Option("--trigger-file <path>", `restart when this file is created or touched; removed after use ${env("PIDONE_TRIGGER_FILE", `, default ${DEFAULTS.triggerFile}`)}`))
    .addOption(new Option("--no-trigger-file", "do not watch a trigger file"))
    .addOption(new Option("--watch <path>", `restart when files under this path change (repeatable) ${env("PIDONE_WATCH", ", comma-separated")}`).argParser(collect))
    .addOption(new Option("--ignore <glob>", `ignore matching paths when watching (repeatable; .git, node_modules, __pycache__, *.pyc are always ignored) ${env("PIDONE_IGNORE", ", comma-separated")}`).argParser(collect))
    .addOption(new Option("--debounce <duration>", `quiet time after the last change before restarting ${env("PIDONE_DEBOUNCE", `, default ${DEFAULTS.debounce}`)}`))
    .addOption(new Option("--poll <duration>", `poll files at this interval instead of inotify (NFS, some volume mounts) ${env("PIDONE_POLL")}`))
    .addOption(new Option("--control-socket <path>", `unix socket for pidone restart/status ${env("PIDONE_CONTROL_SOCKET", `, default ${DEFAULTS.controlSocket}`)}`))
    .addOption(new Option("--no-control-socket", "do not listen for pidone restart/status"))
    .addOption(new Option("--listen <address>", `listen on this socket once and hand it to every app generation as fd 3, 4, ... with LISTEN_FDS (repeatable; HOST:PORT, [::]:PORT, unix:PATH) ${env("PIDONE_LISTEN", ", comma-separated")}`).argParser(collect))
    .addOption(new Option("--health <address>", `serve /livez, /readyz and /status over HTTP on this address ${env("PIDONE_HEALTH")}`))
    .addOption(new Option("--ready-tcp <port>", `/readyz also needs a TCP connect to PORT or HOST:PORT to succeed ${env("PIDONE_READY_TCP")}`))
    .addOption(new Option("--ready-http <url>", `/readyz also needs a 2xx/3xx answer from this http:// URL; with --overlap, a PATH is enough ${env("PIDONE_READY_HTTP")}`))
    .addOption(new Option("--overlap", `restarts start the next generation while the current one serves, and switch once it is ready (needs --listen with TCP addresses) ${env("PIDONE_OVERLAP")}`))
    .addOption(new Option("--ready-notify", `with --overlap: the next generation is ready when it sends READY=1 to NOTIFY_SOCKET (sd_notify) ${env("PIDONE_READY_NOTIFY")}`))
    .addOption(new Option("--ready-timeout <duration>", `with --overlap: how long the next generation may take to become ready ${env("PIDONE_READY_TIMEOUT", `, default ${DEFAULTS.readyTimeout}`)}`))
    .addOption(new Option("--preload <modules>", `Python apps: import these third-party modules once in a zygote and fork each generation from it (comma-separated, e.g. flask,sqlalchemy; never the app's own code) ${env("PIDONE_PRELOAD")}`))
    .addOption(new Option("--log-level <level>", `debug, info, warn, error or silent ${env("PIDONE_LOG_LEVEL", ", default info")}`))
    .addOption(new Option("--log-format <format>", `json, pretty, or auto (pretty on a TTY) ${env("PIDONE_LOG_FORMAT", ", default auto")}`))
    .helpOption("-h, --help", "show this help")
    .addHelpText("after", "\nA flag wins over its variable. Durations: 500ms, 10s, 2m (a bare number: seconds for timeouts and windows, ms for --debounce and --poll).\nExamples:\n  pidone -- python app.py\n  pidone --watch /app --single-child -- gunicorn -w 2 app:app\n  kill -USR1 1 | touch .restart_trigger | pidone restart");
  return run(program, argv, (cmd) => ({ kind: "run", raw: cmd.opts<RawOptions>(), command: cmd.args }));
}

function parseClient(action: "restart" | "status", argv: readonly string[], version: string): Invocation {
  const program = new Command(`pidone ${action}`)
    .description(action === "restart"
      ? "Ask the running pidone to restart the app; waits until the new app is ready (its readiness check passed, or it stayed up through --settle), prints its pid, and exits 5 with its status and last output if it exited instead."
      : "Print the running pidone's status: app pid, uptime, restarts, last exit and last restart reason.")
    .version(version, "-V, --version")
    .addOption(new Option("--socket <path>", `control socket ${env("PIDONE_CONTROL_SOCKET", `, default ${DEFAULTS.controlSocket}`)}`))
    .helpOption("-h, --help", "show this help");
  if (action === "restart") {
    program.addOption(new Option("--timeout <duration>", "how long to wait for the new app process (default 30s)"));
    program.addOption(new Option("--wait <what>", "ready (default: the new app runs and passes --ready-http/--ready-tcp, or with --overlap was ready) or running"));
    program.addOption(new Option("--settle <duration>", "without a readiness check: how long the new app must stay up to count as up (default 1s; 0: as soon as it runs)"));
  } else {
    program.addOption(new Option("--json", "print JSON"));
    program.addOption(new Option("--timeout <duration>", "how long to wait for an answer, pidone busy included (default 10s)"));
  }
  return run(program, argv, (cmd) => {
    const o = cmd.opts<{ socket?: string; timeout?: string; wait?: string; settle?: string; json?: boolean }>();
    return { kind: "client", action, socket: o.socket, timeout: o.timeout, wait: o.wait, ...(o.settle === undefined ? {} : { settle: o.settle }), json: o.json === true };
  });
}

function parseLogs(argv: readonly string[], version: string): Invocation {
  const program = new Command("pidone logs")
    .description("Print what the app printed (stdout and stderr as they came), as the running pidone keeps it: the last generations' recent output (256 KiB each, 4 generations).")
    .version(version, "-V, --version")
    .addOption(new Option("--socket <path>", `control socket ${env("PIDONE_CONTROL_SOCKET", `, default ${DEFAULTS.controlSocket}`)}`))
    .addOption(new Option("-f, --follow", "then keep printing what the app prints, across restarts (each new generation marked on stderr)"))
    .addOption(new Option("--tail <n>", "only the last N lines"))
    .addOption(new Option("--generation <n>", "this generation's output (pidone status shows the current one)"))
    .addOption(new Option("--previous", "the generation before the latest (e.g. the one that crashed)"))
    .helpOption("-h, --help", "show this help");
  return run(program, argv, (cmd) => {
    const o = cmd.opts<{ socket?: string; follow?: boolean; tail?: string; generation?: string; previous?: boolean }>();
    return { kind: "logs", socket: o.socket, follow: o.follow === true, tail: o.tail, generation: o.generation, previous: o.previous === true };
  });
}

function parseSync(argv: readonly string[], version: string): Invocation {
  const program = new Command("pidone sync")
    .usage("LOCAL_DIR REMOTE_DIR --via PREFIX [options]")
    .description("Send LOCAL_DIR to REMOTE_DIR in a running container and keep it in sync: runs `PREFIX pidone receive REMOTE_DIR` (e.g. --via 'kubectl exec -i POD --'), sends only what differs, then every settled batch of changes, and has the pidone there restart the app after each batch.")
    .version(version, "-V, --version")
    .argument("<local-dir>", "the directory to send")
    .argument("<remote-dir>", "where it goes in the container (must exist there)")
    .addOption(new Option("--via <prefix>", "the transport, split into words without a shell: 'kubectl exec -i [-n NS] [-c C] POD --', 'docker exec -i CTR', 'podman exec -i CTR', 'ssh HOST'; '' runs pidone receive here").makeOptionMandatory())
    .addOption(new Option("--remote-command <cmd>", "how to run pidone on the other side (default: pidone), e.g. 'node /opt/pidone/pidone.cjs'"))
    .addOption(new Option("--once", "reconcile, apply, restart, report and exit (0 on success)"))
    .addOption(new Option("--delete", "delete remote files that LOCAL_DIR does not have (default: leave them)"))
    .addOption(new Option("--no-restart", "do not ask pidone for a restart after a batch (the app reloads itself)"))
    .addOption(new Option("--ignore <glob>", "do not send matching paths (gitignore syntax, repeatable); .git, node_modules, __pycache__, *.pyc, editor temporaries and .gitignore'd files are never sent").argParser(collect))
    .addOption(new Option("--debounce <duration>", "a fixed quiet time after the last change before a batch is sent (default: 8ms after a lone save, growing with a burst's gaps up to 50ms)"))
    .addOption(new Option("--json", "print one JSON object per event (connected, applied, synced, disconnected, ...)"))
    .helpOption("-h, --help", "show this help");
  return run(program, argv, (cmd) => {
    const o = cmd.opts<{ via: string; remoteCommand?: string; once?: boolean; delete?: boolean; restart: boolean; ignore?: string[]; debounce?: string; json?: boolean }>();
    const [localDir, remoteDir] = cmd.args as [string, string];
    return {
      kind: "sync", localDir, remoteDir, via: o.via, remoteCommand: o.remoteCommand, once: o.once === true, deleteExtra: o.delete === true,
      restart: o.restart !== false, ignore: o.ignore ?? [], debounce: o.debounce, json: o.json === true,
    };
  });
}

function parseReceive(argv: readonly string[], version: string): Invocation {
  const program = new Command("pidone receive")
    .usage("REMOTE_DIR [options]")
    .description("The container's end of `pidone sync` (run by it through the transport, not by hand): reads the sync stream on stdin, applies each batch atomically inside REMOTE_DIR, and asks this container's pidone to restart the app.")
    .version(version, "-V, --version")
    .argument("<remote-dir>", "the directory files are written to")
    .addOption(new Option("--socket <path>", `pidone's control socket ${env("PIDONE_CONTROL_SOCKET", `, default ${DEFAULTS.controlSocket}`)}`))
    .addOption(new Option("--timeout <duration>", "how long a restart may take (default 30s)"))
    .helpOption("-h, --help", "show this help");
  return run(program, argv, (cmd) => {
    const o = cmd.opts<{ socket?: string; timeout?: string }>();
    return { kind: "receive", remoteDir: cmd.args[0] as string, socket: o.socket, timeout: o.timeout };
  });
}

function run(program: Command, argv: readonly string[], done: (cmd: Command) => Invocation): Invocation {
  program.exitOverride().configureOutput({ writeErr: () => {}, outputError: () => {} });
  try {
    program.parse(argv as string[], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return { kind: "done" };
      throw new ConfigError(`${err.message.replace(/^error: /, "")} (see ${program.name()} --help)`);
    }
    throw err;
  }
  return done(program);
}
