// Options are normalised once: flags beat PIDONE_* variables beat defaults, and every bad value is
// a ConfigError that names the option, the value and what would be accepted.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  DEFAULTS, normalizeConfig, parseDuration, parseSignal, type Config, type RawOptions,
} from "../../src/cli/config.js";
import { ConfigError } from "../../src/errors.js";
import { parseArgs } from "../../src/cli/program.js";

const CWD = "/srv/app";
const normalize = (raw: RawOptions = {}, env: NodeJS.ProcessEnv = {}, command: string[] = ["app", "--port", "80"]): Config =>
  normalizeConfig(raw, command, env, CWD, () => "/tmp/pidone-1000/pidone.sock");

/** The ConfigError thrown by `fn`; fails the test if it throws nothing or something else. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).name).toBe("ConfigError");
    return err as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("normalizeConfig: defaults", () => {
  it("with no flags and no variables", () => {
    const c = normalize();
    expect(c).toEqual({
      command: "app",
      args: ["--port", "80"],
      stopTimeoutMs: 10_000,
      signalScope: "group",
      restart: "on-failure",
      maxRestarts: 5,
      restartWindowMs: 60_000,
      changeWindowMs: 10_000,
      restartSignal: "SIGUSR1",
      stopSignal: "SIGTERM",
      triggerFile: "/srv/app/.restart_trigger",
      triggerFileExplicit: false,
      watch: [],
      ignore: [...DEFAULTS.ignore],
      debounceMs: 200,
      pollMs: null,
      controlSocket: "/tmp/pidone-1000/pidone.sock",
      controlSocketExplicit: false,
      logLevel: "info",
      logFormat: "auto",
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("ignores variables that are not pidone's", () => {
    expect(normalize({}, { STOP_TIMEOUT: "1s", PIDONE: "x", pidone_restart: "never" })).toEqual(normalize());
  });
});

describe("normalizeConfig: a flag beats its PIDONE_* variable", () => {
  // [option, raw flag, variable, variable's value, Config key, value from the flag, value from the variable]
  const rows: [string, RawOptions, string, string, keyof Config, unknown, unknown][] = [
    ["--stop-timeout", { stopTimeout: "3s" }, "PIDONE_STOP_TIMEOUT", "7", "stopTimeoutMs", 3_000, 7_000],
    ["--restart", { restart: "never" }, "PIDONE_RESTART", "always", "restart", "never", "always"],
    ["--max-restarts", { maxRestarts: "2" }, "PIDONE_MAX_RESTARTS", "9", "maxRestarts", 2, 9],
    ["--restart-window", { restartWindow: "30s" }, "PIDONE_RESTART_WINDOW", "1.5m", "restartWindowMs", 30_000, 90_000],
    ["--change-window", { changeWindow: "3s" }, "PIDONE_CHANGE_WINDOW", "500ms", "changeWindowMs", 3_000, 500],
    ["--every-crash-counts", { everyCrashCounts: true }, "PIDONE_EVERY_CRASH_COUNTS", "0", "changeWindowMs", 0, 10_000],
    ["--restart-signal", { restartSignal: "SIGHUP" }, "PIDONE_RESTART_SIGNAL", "usr2", "restartSignal", "SIGHUP", "SIGUSR2"],
    ["--stop-signal", { stopSignal: "SIGQUIT" }, "PIDONE_STOP_SIGNAL", "2", "stopSignal", "SIGQUIT", "SIGINT"],
    ["--trigger-file", { triggerFile: "flag.trg" }, "PIDONE_TRIGGER_FILE", "/env/x.trg", "triggerFile", "/srv/app/flag.trg", "/env/x.trg"],
    ["--watch", { watch: ["src", "/abs"] }, "PIDONE_WATCH", "lib, ../shared ,", "watch", ["/srv/app/src", "/abs"], ["/srv/app/lib", "/srv/shared"]],
    ["--ignore", { ignore: ["*.log"] }, "PIDONE_IGNORE", "*.tmp,*.bak", "ignore", [...DEFAULTS.ignore, "*.log"], [...DEFAULTS.ignore, "*.tmp", "*.bak"]],
    ["--debounce", { debounce: "50" }, "PIDONE_DEBOUNCE", "1s", "debounceMs", 50, 1_000],
    ["--poll", { poll: "500" }, "PIDONE_POLL", "2s", "pollMs", 500, 2_000],
    ["--control-socket", { controlSocket: "run/ctl.sock" }, "PIDONE_CONTROL_SOCKET", "/run/p.sock", "controlSocket", "/srv/app/run/ctl.sock", "/run/p.sock"],
    ["--log-level", { logLevel: "debug" }, "PIDONE_LOG_LEVEL", "WARN", "logLevel", "debug", "warn"],
    ["--log-format", { logFormat: "json" }, "PIDONE_LOG_FORMAT", "pretty", "logFormat", "json", "pretty"],
    ["--single-child", { singleChild: true }, "PIDONE_SINGLE_CHILD", "no", "signalScope", "child", "group"],
  ];

  it.each(rows)("%s", (_option, raw, variable, envValue, key, fromFlag, fromEnv) => {
    const env = { [variable]: envValue };
    expect(normalize({}, env)[key]).toEqual(fromEnv);
    expect(normalize(raw, env)[key]).toEqual(fromFlag);
    // Both differ from the default, so the assertions above cannot pass by accident.
    expect(normalize()[key]).not.toEqual(fromFlag);
  });

  it.each(["1", "true", "YES", " on "])("PIDONE_SINGLE_CHILD=%s -> child scope", (value) => {
    expect(normalize({}, { PIDONE_SINGLE_CHILD: value }).signalScope).toBe("child");
  });

  it.each(["0", "false", "off", ""])("PIDONE_SINGLE_CHILD=%j -> group scope", (value) => {
    expect(normalize({}, { PIDONE_SINGLE_CHILD: value }).signalScope).toBe("group");
  });

  it("paths named by a flag or a variable are explicit", () => {
    expect(normalize({ triggerFile: "t" }).triggerFileExplicit).toBe(true);
    expect(normalize({}, { PIDONE_TRIGGER_FILE: "t" }).triggerFileExplicit).toBe(true);
    expect(normalize({ controlSocket: "s" }).controlSocketExplicit).toBe(true);
    expect(normalize({}, { PIDONE_CONTROL_SOCKET: "s" }).controlSocketExplicit).toBe(true);
  });
});

describe("normalizeConfig: the change window", () => {
  it("a bare number is seconds; 0 turns the rule off", () => {
    expect(normalize({ changeWindow: "20" }).changeWindowMs).toBe(20_000);
    expect(normalize({ changeWindow: "0" }).changeWindowMs).toBe(0);
  });
  it("PIDONE_EVERY_CRASH_COUNTS=1 turns it off", () => {
    expect(normalize({}, { PIDONE_EVERY_CRASH_COUNTS: "1" }).changeWindowMs).toBe(0);
  });
  it("every crash counting and a window given at the same time contradict each other", () => {
    expect(() => normalize({ everyCrashCounts: true, changeWindow: "5s" })).toThrow("--every-crash-counts contradicts --change-window 5s: every crash counts means no change window (drop one of them)");
    expect(() => normalize({}, { PIDONE_EVERY_CRASH_COUNTS: "yes", PIDONE_CHANGE_WINDOW: "5s" })).toThrow(ConfigError);
    expect(normalize({ everyCrashCounts: true, changeWindow: "0" }).changeWindowMs).toBe(0);
  });
  it("a bad duration names the option", () => {
    expect(() => normalize({ changeWindow: "soon" })).toThrow("--change-window: invalid duration 'soon'");
    expect(() => normalize({}, { PIDONE_EVERY_CRASH_COUNTS: "maybe" })).toThrow("PIDONE_EVERY_CRASH_COUNTS: invalid value 'maybe'");
  });
});

describe("normalizeConfig: turning paths off", () => {
  it("--no-trigger-file disables the trigger file, even when the variable names one", () => {
    const c = normalize({ triggerFile: false }, { PIDONE_TRIGGER_FILE: "/x" });
    expect(c.triggerFile).toBeNull();
    expect(c.triggerFileExplicit).toBe(true);
  });

  it.each(["off", "OFF", "none", "false", "0", ""])("PIDONE_TRIGGER_FILE=%j disables the trigger file", (value) => {
    expect(normalize({}, { PIDONE_TRIGGER_FILE: value }).triggerFile).toBeNull();
  });

  it("--trigger-file beats PIDONE_TRIGGER_FILE=off", () => {
    expect(normalize({ triggerFile: "t" }, { PIDONE_TRIGGER_FILE: "off" }).triggerFile).toBe("/srv/app/t");
  });

  it("--no-control-socket and PIDONE_CONTROL_SOCKET=off disable the control socket", () => {
    expect(normalize({ controlSocket: false }).controlSocket).toBeNull();
    expect(normalize({}, { PIDONE_CONTROL_SOCKET: "off" }).controlSocket).toBeNull();
  });

  it.each(["off", "OFF", "none", "0", ""])("PIDONE_POLL=%j -> inotify events", (value) => {
    expect(normalize({}, { PIDONE_POLL: value }).pollMs).toBeNull();
  });

  it("--poll 0 is an error, not a way to turn polling off", () => {
    expect(() => normalize({ poll: "0" })).toThrow("--poll: polling interval must be above 0");
  });

  // `--trigger-file "$UNSET_VAR"` must not silently turn the feature off: only a variable may.
  it.each([
    [{ triggerFile: "" }, "--trigger-file: empty path (to turn it off use --no-trigger-file)"],
    [{ controlSocket: "" }, "--control-socket: empty path (to turn it off use --no-control-socket)"],
  ])("an empty path flag %j -> ConfigError", (raw, message) => {
    expect(() => normalize(raw)).toThrow(ConfigError);
    expect(() => normalize(raw)).toThrow(message);
  });

  // A sockaddr_un holds 107 bytes of path: past that the kernel would get a cut path (a socket
  // file somewhere else), so the edge refuses it, from the flag and from the variable.
  it.each([
    [{ controlSocket: `/run/${"s".repeat(103)}` }, {}, "--control-socket"],
    [{}, { PIDONE_CONTROL_SOCKET: `/run/${"s".repeat(103)}` }, "PIDONE_CONTROL_SOCKET"],
  ])("a control socket path over 107 bytes -> ConfigError (%#)", (raw, env, from) => {
    expect(() => normalize(raw, env)).toThrow(`${from}: socket path /run/${"s".repeat(103)} is longer than 107 bytes`);
    expect(normalize({ controlSocket: `/run/${"s".repeat(102)}` }).controlSocket).toBe(`/run/${"s".repeat(102)}`);
  });

  // `pidone --control-socket -- app`: commander takes `--` as the value and `app` as the command.
  it.each([
    [{ controlSocket: "--" }, "--control-socket"],
    [{ triggerFile: "--" }, "--trigger-file"],
    [{ stopTimeout: "--" }, "--stop-timeout"],
    [{ watch: ["src", "--"] }, "--watch"],
    [{ ignore: ["--"] }, "--ignore"],
    [{ listen: ["--"] }, "--listen"],
  ] as [RawOptions, string][])("a flag whose value is -- (%j): missing value", (raw, flag) => {
    expect(() => normalize(raw)).toThrow(`${flag}: missing value (the next argument is --)`);
  });

  it("a flag value that reads like 'off' is a file name", () => {
    expect(normalize({ triggerFile: "off" }).triggerFile).toBe("/srv/app/off");
  });

  it("relative paths are resolved against cwd, absolute ones kept", () => {
    const c = normalize({ triggerFile: "./tmp/../.trg", controlSocket: "/run/pidone.sock", watch: [".", "src/"] });
    expect(c.triggerFile).toBe("/srv/app/.trg");
    expect(c.controlSocket).toBe("/run/pidone.sock");
    expect(c.watch).toEqual(["/srv/app", "/srv/app/src"]);
  });
});

describe("normalizeConfig: bad values", () => {
  // [what, raw flags, env, strings the message must contain: the option, the value, what is accepted]
  const rows: [string, RawOptions, NodeJS.ProcessEnv, string[]][] = [
    ["duration flag", { stopTimeout: "10x" }, {}, ["--stop-timeout", "'10x'", "10s"]],
    ["duration variable", {}, { PIDONE_STOP_TIMEOUT: "soon" }, ["PIDONE_STOP_TIMEOUT", "'soon'", "10s"]],
    ["negative duration", { restartWindow: "-5s" }, {}, ["--restart-window", "'-5s'", "seconds"]],
    ["debounce in words", { debounce: "fast" }, {}, ["--debounce", "'fast'", "milliseconds"]],
    ["poll variable", {}, { PIDONE_POLL: "1h2m" }, ["PIDONE_POLL", "'1h2m'", "500ms"]],
    ["too long a duration", { stopTimeout: "600h" }, {}, ["--stop-timeout", "'600h'", "24 days"]],
    ["policy flag", { restart: "sometimes" }, {}, ["--restart", "'sometimes'", "on-failure, always, never"]],
    ["policy variable", {}, { PIDONE_RESTART: "on-crash" }, ["PIDONE_RESTART", "'on-crash'", "on-failure, always, never"]],
    ["negative number", { maxRestarts: "-1" }, {}, ["--max-restarts", "'-1'", "whole number"]],
    ["fractional number", { maxRestarts: "2.5" }, {}, ["--max-restarts", "'2.5'", "whole number"]],
    ["number variable", {}, { PIDONE_MAX_RESTARTS: "many" }, ["PIDONE_MAX_RESTARTS", "'many'", "whole number"]],
    ["unknown signal", { restartSignal: "SIGFOO" }, {}, ["--restart-signal", "'SIGFOO'", "SIGHUP"]],
    ["unknown signal number", {}, { PIDONE_RESTART_SIGNAL: "99" }, ["PIDONE_RESTART_SIGNAL", "'99'", "number"]],
    ["unknown stop signal", { stopSignal: "TERMINATE" }, {}, ["--stop-signal", "'TERMINATE'", "SIGHUP"]],
    ["SIGSTOP as stop signal", { stopSignal: "STOP" }, {}, ["--stop-signal", "SIGSTOP cannot be the stop signal", "SIGTERM"]],
    ["SIGCHLD as stop signal", {}, { PIDONE_STOP_SIGNAL: "17" }, ["PIDONE_STOP_SIGNAL", "SIGCHLD cannot be the stop signal"]],
    ["the restart signal as stop signal", { stopSignal: "hup", restartSignal: "SIGHUP" }, {}, ["--stop-signal", "SIGHUP cannot be the stop signal", "restart signal"]],
    ["the default restart signal as stop signal", {}, { PIDONE_STOP_SIGNAL: "SIGUSR1" }, ["PIDONE_STOP_SIGNAL", "SIGUSR1 cannot be the stop signal"]],
    ["bool variable", {}, { PIDONE_SINGLE_CHILD: "maybe" }, ["PIDONE_SINGLE_CHILD", "'maybe'", "1/true/yes/on", "0/false/no/off"]],
    ["log level", { logLevel: "verbose" }, {}, ["--log-level", "'verbose'", "debug, info, warn, error, silent"]],
    ["log format variable", {}, { PIDONE_LOG_FORMAT: "xml" }, ["PIDONE_LOG_FORMAT", "'xml'", "json, pretty, auto"]],
    ["zero polling interval", { poll: "0ms" }, {}, ["--poll", "above 0"]],
  ];

  it.each(rows)("%s -> ConfigError naming it", (_what, raw, env, parts) => {
    const err = configError(() => normalize(raw, env));
    for (const part of parts) expect(err.message).toContain(part);
  });

  it.each([["KILL", "SIGKILL"], ["SIGINT", "SIGINT"], ["3", "SIGQUIT"], ["usr2", "SIGUSR2"]])("stop signal %s is accepted (SIGKILL too, as Docker allows it)", (value, name) => {
    expect(normalize({ stopSignal: value }).stopSignal).toBe(name);
  });

  it("a bad variable is not an error when its flag overrides it", () => {
    expect(normalize({ stopTimeout: "1s" }, { PIDONE_STOP_TIMEOUT: "soon" }).stopTimeoutMs).toBe(1000);
    expect(normalize({ singleChild: true }, { PIDONE_SINGLE_CHILD: "maybe" }).signalScope).toBe("child");
  });

  it.each([
    ["SIGTERM", "SIGTERM"], ["term", "SIGTERM"], ["15", "SIGTERM"],
    ["SIGINT", "SIGINT"], ["SIGQUIT", "SIGQUIT"], ["KILL", "SIGKILL"], ["SIGSTOP", "SIGSTOP"], ["chld", "SIGCHLD"],
  ])("restart signal %s is reserved", (value, name) => {
    const err = configError(() => normalize({ restartSignal: value }));
    expect(err.message).toContain("--restart-signal");
    expect(err.message).toContain(`${name} cannot be the restart signal`);
    expect(err.message).toContain("SIGUSR1");
    const fromEnv = configError(() => normalize({}, { PIDONE_RESTART_SIGNAL: value }));
    expect(fromEnv.message).toContain("PIDONE_RESTART_SIGNAL");
  });

  it.each([[[]], [[""]]])("command %j -> ConfigError with the usage", (command) => {
    expect(configError(() => normalize({}, {}, command)).message).toContain("no command given");
  });
});

describe("parseDuration", () => {
  it.each([
    ["250ms", "ms", 250],
    ["10s", "ms", 10_000],
    ["1.5m", "s", 90_000],
    ["2h", "s", 7_200_000],
    [" 3s ", "s", 3_000],
    ["10", "s", 10_000],
    ["10", "ms", 10],
    ["0.5", "s", 500],
    ["0", "s", 0],
    ["2147483647ms", "ms", 2_147_483_647],
  ] as const)("%j (bare unit %s) -> %i ms", (text, unit, ms) => {
    expect(parseDuration(text, unit, "--x")).toBe(ms);
  });

  it.each(["", "s", "ms", "10 sec", "-1s", "1e3", "1,5s", "10d", ".5s", "Infinity"])("%j -> ConfigError", (text) => {
    const err = configError(() => parseDuration(text, "s", "--x"));
    expect(err.message).toContain(`--x: invalid duration '${text}'`);
  });

  it("above setTimeout's limit -> ConfigError", () => {
    expect(configError(() => parseDuration("2147483648ms", "ms", "--x")).message).toContain("too long");
    expect(configError(() => parseDuration("25d", "ms", "--x")).message).toContain("invalid duration");
  });
});

describe("parseSignal", () => {
  it.each([
    ["SIGHUP", "SIGHUP"], ["HUP", "SIGHUP"], ["hup", "SIGHUP"], ["1", "SIGHUP"], [" usr1 ", "SIGUSR1"],
    ["sigusr2", "SIGUSR2"], ["10", "SIGUSR1"], ["28", "SIGWINCH"],
  ])("%j -> %s", (text, name) => {
    expect(parseSignal(text, "--x")).toBe(name);
  });

  it.each(["", "SIG", "0", "-1", "SIGFOO", "USR3", "1.0", "65"])("%j -> ConfigError", (text) => {
    expect(configError(() => parseSignal(text, "--x")).message).toContain(`--x: unknown signal '${text}'`);
  });
});

describe("parseArgs", () => {
  let stdout: string;
  beforeEach(() => {
    stdout = "";
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("options before `--`, the command after it", () => {
    expect(parseArgs(["--stop-timeout", "3s", "--restart", "always", "--", "python", "app.py"], "1.2.3")).toEqual({
      kind: "run", raw: { stopTimeout: "3s", restart: "always" }, command: ["python", "app.py"],
    });
  });

  it("everything after `--` is passed untouched, flags and `--` included", () => {
    const inv = parseArgs(["--", "--stop-timeout", "5", "-h", "--version", "--", "restart", "--bogus"], "1.2.3");
    expect(inv).toEqual({ kind: "run", raw: {}, command: ["--stop-timeout", "5", "-h", "--version", "--", "restart", "--bogus"] });
    expect(stdout).toBe("");
  });

  it("without `--`, options after the first operand belong to the app", () => {
    const inv = parseArgs(["--single-child", "gunicorn", "--stop-timeout", "5", "-w", "2", "--help"], "1.2.3");
    expect(inv).toEqual({ kind: "run", raw: { singleChild: true }, command: ["gunicorn", "--stop-timeout", "5", "-w", "2", "--help"] });
    expect(stdout).toBe("");
  });

  it("an app called restart runs after `--`", () => {
    expect(parseArgs(["--", "restart", "now"], "1.2.3")).toEqual({ kind: "run", raw: {}, command: ["restart", "now"] });
  });

  it("repeatable and negated options", () => {
    const inv = parseArgs([
      "--watch", "src", "--watch", "lib", "--ignore", "*.log", "--no-trigger-file", "--no-control-socket", "--single-child", "--", "app",
    ], "1.2.3");
    expect(inv).toEqual({
      kind: "run",
      raw: { watch: ["src", "lib"], ignore: ["*.log"], triggerFile: false, controlSocket: false, singleChild: true },
      command: ["app"],
    });
  });

  it("no options leaves every raw option unset, so variables and defaults apply", () => {
    const inv = parseArgs(["--", "app"], "1.2.3");
    if (inv.kind !== "run") throw new Error(`expected run, got ${inv.kind}`);
    expect(inv.raw).toEqual({});
    const c = normalizeConfig(inv.raw, inv.command, { PIDONE_RESTART: "never" }, CWD, () => "/run/pidone/pidone.sock");
    expect(c.triggerFile).toBe("/srv/app/.restart_trigger");
    expect(c.controlSocket).toBe("/run/pidone/pidone.sock");
    expect(c.restart).toBe("never");
  });

  it("no command at all -> run with an empty command (normalizeConfig rejects it)", () => {
    const inv = parseArgs([], "1.2.3");
    expect(inv).toEqual({ kind: "run", raw: {}, command: [] });
    if (inv.kind !== "run") return;
    expect(configError(() => normalizeConfig(inv.raw, inv.command, {}, CWD)).message).toContain("no command given");
  });

  it.each([
    [["--bogus", "--", "app"], "--bogus"],
    [["-z", "app"], "-z"],
    [["--stop-timeout"], "--stop-timeout"],
    [["status", "--bogus"], "--bogus"],
    [["status", "--settle", "1s"], "--settle"],
    [["restart", "--json"], "--json"],
  ])("%j -> ConfigError mentioning %s", (argv, flag) => {
    const err = configError(() => parseArgs(argv, "1.2.3"));
    expect(err.message).toContain(flag);
    expect(err.message).toContain("--help");
  });

  it.each([
    [["restart"], { kind: "client", action: "restart", socket: undefined, timeout: undefined, json: false }],
    [["restart", "--settle", "2s"], { kind: "client", action: "restart", socket: undefined, timeout: undefined, settle: "2s", json: false }],
    [["status", "--timeout", "20s"], { kind: "client", action: "status", socket: undefined, timeout: "20s", json: false }],
    [["restart", "--socket", "/run/p.sock", "--timeout", "5s"], { kind: "client", action: "restart", socket: "/run/p.sock", timeout: "5s", json: false }],
    [["status"], { kind: "client", action: "status", socket: undefined, timeout: undefined, json: false }],
    [["status", "--json", "--socket", "/s"], { kind: "client", action: "status", socket: "/s", timeout: undefined, json: true }],
  ])("%j -> client invocation", (argv, expected) => {
    expect(parseArgs(argv, "1.2.3")).toEqual(expected);
  });

  it.each([[["--help"]], [["-h"]], [["restart", "--help"]], [["status", "-h"]]])("%j prints help and is done", (argv) => {
    expect(parseArgs(argv, "1.2.3")).toEqual({ kind: "done" });
    expect(stdout).toMatch(/^Usage: pidone/);
  });

  it.each([[["--version"]], [["-V"]], [["status", "--version"]]])("%j prints the version and is done", (argv) => {
    expect(parseArgs(argv, "1.2.3")).toEqual({ kind: "done" });
    expect(stdout).toBe("1.2.3\n");
  });
});
