// Options normalised once, at the edge: raw flag strings and PIDONE_* variables in, one frozen
// Config out, or a ConfigError naming the option, the value and what is accepted.
import path from "node:path";
import { constants } from "node:os";
import { ConfigError } from "../errors.js";
import { checkControlSocketPath, parseListenAddress, type ListenAddress } from "./listen-address.js";
import { loopbackHost } from "../listen-addr.js";
import type { ReadySignal } from "../ready-signal.js";
import { currentUid, defaultControlSocket, fsProbe } from "./control-socket-path.js";

/** Everything pidone runs with. */
export interface Config {
  command: string;
  args: readonly string[];
  stopTimeoutMs: number;
  signalScope: "group" | "child";
  restart: "on-failure" | "always" | "never";
  maxRestarts: number;
  restartWindowMs: number;
  /** A generation started by a change or a request that exits within this long waits for the
   *  next one instead of counting as a crash (--change-window); 0 with --every-crash-counts. */
  changeWindowMs: number;
  restartSignal: NodeJS.Signals;
  /** What a stop, a restart or a stop asked for by SIGTERM sends the app (Docker's STOPSIGNAL). */
  stopSignal: NodeJS.Signals;
  /** Absolute path, or null when turned off. */
  triggerFile: string | null;
  /** True when the user named the trigger file; a default one that cannot work only warns. */
  triggerFileExplicit: boolean;
  watch: readonly string[];
  ignore: readonly string[];
  debounceMs: number;
  /** Polling interval for file watching, or null for inotify events. */
  pollMs: number | null;
  /** Absolute path, or null when turned off. */
  controlSocket: string | null;
  /** True when the user named the socket; the default one lives in a private directory pidone
   *  creates, and only warns when it cannot work. */
  controlSocketExplicit: boolean;
  logLevel: LogLevelName;
  logFormat: "json" | "pretty" | "auto";
  /** Sockets pidone listens on and hands to every generation (--listen); absent when none. */
  listen?: readonly ListenAddress[];
  /** Where the health server (/livez, /readyz, /status) listens (--health); absent when off. */
  health?: ListenAddress;
  /** /readyz also needs a TCP connect to this address to succeed (--ready-tcp). */
  readyTcp?: Extract<ListenAddress, { kind: "tcp" }>;
  /** /readyz also needs a 2xx/3xx answer from this http:// URL (--ready-http). */
  readyHttp?: string;
  /** Restarts start the next generation first and switch once it is ready (--overlap). */
  overlap?: Overlap;
  /** Python modules a zygote imports once, each generation being forked from it (--preload); absent when off. */
  preload?: readonly string[];
}

/** --overlap's settings: how the next generation says it is ready, and how long it may take. */
export interface Overlap {
  readySignal: ReadySignal;
  readyTimeoutMs: number;
}

/** Log levels accepted by --log-level. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** Flag values as commander hands them over: strings, booleans for negations, arrays for repeats. */
export interface RawOptions {
  stopTimeout?: string;
  singleChild?: boolean;
  restart?: string;
  maxRestarts?: string;
  restartWindow?: string;
  changeWindow?: string;
  everyCrashCounts?: boolean;
  restartSignal?: string;
  stopSignal?: string;
  triggerFile?: string | false;
  watch?: string[];
  ignore?: string[];
  debounce?: string;
  poll?: string;
  controlSocket?: string | false;
  logLevel?: string;
  logFormat?: string;
  listen?: string[];
  health?: string;
  readyTcp?: string;
  readyHttp?: string;
  overlap?: boolean;
  readyNotify?: boolean;
  readyTimeout?: string;
  preload?: string;
}

/** Defaults, documented in the README's options table. */
export const DEFAULTS = {
  stopTimeout: "10s",
  restart: "on-failure",
  maxRestarts: "5",
  restartWindow: "60s",
  changeWindow: "10s",
  restartSignal: "SIGUSR1",
  stopSignal: "SIGTERM",
  triggerFile: ".restart_trigger",
  debounce: "200ms",
  /** For help texts; the path itself comes from defaultControlSocket(). */
  controlSocket: "pidone.sock in $XDG_RUNTIME_DIR, else /run/pidone/, else /tmp/pidone-<uid>/",
  readyTimeout: "60s",
  logLevel: "info",
  logFormat: "auto",
  ignore: ["**/.git/**", "**/node_modules/**", "**/__pycache__/**", "**/*.pyc", "**/*.swp", "**/*~", "**/.restart_trigger"],
} as const;

/** Signals pidone must handle itself, so they cannot be the restart signal. */
const RESERVED_SIGNALS = new Set(["SIGTERM", "SIGINT", "SIGQUIT", "SIGKILL", "SIGSTOP", "SIGCHLD"]);

/** Where a value came from, for error messages. */
interface Source {
  flag: string;
  env: string;
}

/** Take the flag if given, else the variable if set, else the default; remember which it was. */
function pick<T>(flagValue: T | undefined, env: NodeJS.ProcessEnv, src: Source): { value: T | string | undefined; from: string } {
  if (flagValue === "--") throw missingValue(src.flag);
  if (flagValue !== undefined) return { value: flagValue, from: src.flag };
  const e = env[src.env];
  if (e !== undefined) return { value: e, from: src.env };
  return { value: undefined, from: "default" };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parse "250ms", "10s", "1.5m", "2h"; a bare number is in `bareUnit`. */
export function parseDuration(text: string, bareUnit: "ms" | "s", name: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new ConfigError(`${name}: invalid duration '${text}' (use e.g. 500ms, 10s, 2m; a bare number is in ${bareUnit === "ms" ? "milliseconds" : "seconds"})`);
  const ms = Number(m[1]) * (UNITS[m[2] ?? bareUnit] as number);
  if (!Number.isFinite(ms) || ms > 2_147_483_647) throw new ConfigError(`${name}: duration '${text}' is too long (at most 24 days)`);
  return Math.round(ms);
}

/** Parse a signal given as SIGHUP, HUP, hup or 1. */
export function parseSignal(text: string, name: string): NodeJS.Signals {
  const t = text.trim();
  const signals = constants.signals as Record<string, number>;
  if (/^\d+$/.test(t)) {
    const found = Object.entries(signals).find(([, n]) => n === Number(t));
    if (found) return found[0] as NodeJS.Signals;
  } else {
    const upper = t.toUpperCase();
    const full = upper.startsWith("SIG") ? upper : `SIG${upper}`;
    if (full in signals) return full as NodeJS.Signals;
  }
  throw new ConfigError(`${name}: unknown signal '${text}' (use a name such as SIGHUP or HUP, or a number)`);
}

function parseCount(text: string, name: string): number {
  if (!/^\s*\d+\s*$/.test(text)) throw new ConfigError(`${name}: invalid number '${text}' (use a whole number, 0 or more)`);
  return Number(text);
}

function parseChoice<T extends string>(text: string, choices: readonly T[], name: string): T {
  const t = text.trim().toLowerCase();
  if ((choices as readonly string[]).includes(t)) return t as T;
  throw new ConfigError(`${name}: invalid value '${text}' (use one of: ${choices.join(", ")})`);
}

function parseBool(text: string, name: string): boolean {
  const t = text.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(t)) return true;
  if (["0", "false", "no", "off", ""].includes(t)) return false;
  throw new ConfigError(`${name}: invalid value '${text}' (use 1/true/yes/on or 0/false/no/off)`);
}

/** A path option that `--no-x` or an "off"-like variable can turn off. */
function parseOptionalPath(
  flag: string | false | undefined, env: NodeJS.ProcessEnv, src: Source, fallback: string | (() => string), cwd: string,
): { path: string | null; explicit: boolean; from: string } {
  if (flag === false) return { path: null, explicit: true, from: src.flag };
  const { value, from } = pick(flag, env, src);
  if (value === undefined) return { path: path.resolve(cwd, typeof fallback === "string" ? fallback : fallback()), explicit: false, from };
  const v = String(value).trim();
  // A flag is taken literally (turn it off with --no-...); a variable can say off, none or "".
  if (from === src.flag) {
    if (v === "") throw new ConfigError(`${from}: empty path (to turn it off use --no-${src.flag.slice(2)})`);
  } else if (isOff(v)) {
    return { path: null, explicit: true, from };
  }
  return { path: path.resolve(cwd, v), explicit: true, from };
}

function isOff(text: string): boolean {
  return ["", "off", "none", "false", "0"].includes(text.trim().toLowerCase());
}

/** commander takes the argument after a flag as its value, even `--`: `pidone --watch -- app`
 *  would watch a file named "--" and run `app`. Such a value is a missing one. */
function missingValue(flag: string): ConfigError {
  return new ConfigError(`${flag}: missing value (the next argument is --)`);
}

function list(flag: string[] | undefined, env: NodeJS.ProcessEnv, name: string): string[] {
  if (flag?.includes("--")) throw missingValue(`--${name.slice("PIDONE_".length).toLowerCase()}`);
  if (flag !== undefined) return flag;
  const e = env[name];
  return e ? e.split(",").map((s) => s.trim()).filter(Boolean) : [];
}

/** Validate everything up front. Throws ConfigError; never spawns anything. `defaultSocket`
 *  gives the control socket's path when no flag or variable names one (it reads the file system). */
export function normalizeConfig(
  raw: RawOptions, command: readonly string[], env: NodeJS.ProcessEnv, cwd: string,
  defaultSocket: () => string = () => defaultControlSocket(env, currentUid(), fsProbe),
): Config {
  const [cmd, ...args] = command;
  if (cmd === undefined || cmd === "") throw new ConfigError("no command given (usage: pidone [options] -- <command> [args...])");

  const get = (key: keyof RawOptions, flag: string, envName: string, fallback: string) => {
    const { value, from } = pick(raw[key] as string | undefined, env, { flag, env: envName });
    return { text: value === undefined ? fallback : String(value), from: value === undefined ? `${flag} (default)` : from };
  };

  const stop = get("stopTimeout", "--stop-timeout", "PIDONE_STOP_TIMEOUT", DEFAULTS.stopTimeout);
  const restart = get("restart", "--restart", "PIDONE_RESTART", DEFAULTS.restart);
  const maxR = get("maxRestarts", "--max-restarts", "PIDONE_MAX_RESTARTS", DEFAULTS.maxRestarts);
  const window = get("restartWindow", "--restart-window", "PIDONE_RESTART_WINDOW", DEFAULTS.restartWindow);
  const change = get("changeWindow", "--change-window", "PIDONE_CHANGE_WINDOW", DEFAULTS.changeWindow);
  const everyCrash = raw.everyCrashCounts === true ? { on: true, from: "--every-crash-counts" }
    : env.PIDONE_EVERY_CRASH_COUNTS !== undefined ? { on: parseBool(env.PIDONE_EVERY_CRASH_COUNTS, "PIDONE_EVERY_CRASH_COUNTS"), from: "PIDONE_EVERY_CRASH_COUNTS" }
      : { on: false, from: "" };
  const changeWindowMs = parseDuration(change.text, "s", change.from);
  if (everyCrash.on && changeWindowMs > 0 && !change.from.endsWith("(default)")) {
    throw new ConfigError(`${everyCrash.from} contradicts ${change.from} ${change.text}: every crash counts means no change window (drop one of them)`);
  }
  const rsig = get("restartSignal", "--restart-signal", "PIDONE_RESTART_SIGNAL", DEFAULTS.restartSignal);
  const debounce = get("debounce", "--debounce", "PIDONE_DEBOUNCE", DEFAULTS.debounce);
  const level = get("logLevel", "--log-level", "PIDONE_LOG_LEVEL", DEFAULTS.logLevel);
  const format = get("logFormat", "--log-format", "PIDONE_LOG_FORMAT", DEFAULTS.logFormat);
  const poll = pick(raw.poll, env, { flag: "--poll", env: "PIDONE_POLL" });
  const single = raw.singleChild === true ? true : env.PIDONE_SINGLE_CHILD !== undefined ? parseBool(env.PIDONE_SINGLE_CHILD, "PIDONE_SINGLE_CHILD") : false;

  const restartSignal = parseSignal(rsig.text, rsig.from);
  if (RESERVED_SIGNALS.has(restartSignal)) {
    throw new ConfigError(`${rsig.from}: ${restartSignal} cannot be the restart signal (it stops pidone or cannot be caught; try SIGUSR1 or SIGHUP)`);
  }
  const ssig = get("stopSignal", "--stop-signal", "PIDONE_STOP_SIGNAL", DEFAULTS.stopSignal);
  const stopSignal = parseSignal(ssig.text, ssig.from);
  // SIGKILL is allowed, as Docker allows it: the app then gets no grace at all.
  if (stopSignal === "SIGSTOP" || stopSignal === "SIGCHLD" || stopSignal === restartSignal) {
    const why = stopSignal === restartSignal ? "it is the restart signal" : stopSignal === "SIGSTOP" ? "it freezes the app instead of stopping it" : "it does not stop anything";
    throw new ConfigError(`${ssig.from}: ${stopSignal} cannot be the stop signal (${why}; use e.g. SIGTERM, SIGINT or SIGQUIT)`);
  }
  const pollText = poll.value === undefined ? "off" : String(poll.value).trim();
  const trigger = parseOptionalPath(raw.triggerFile, env, { flag: "--trigger-file", env: "PIDONE_TRIGGER_FILE" }, DEFAULTS.triggerFile, cwd);
  const control = parseOptionalPath(raw.controlSocket, env, { flag: "--control-socket", env: "PIDONE_CONTROL_SOCKET" }, defaultSocket, cwd);
  if (control.explicit && control.path !== null) checkControlSocketPath(control.path, control.from);
  const ignore = list(raw.ignore, env, "PIDONE_IGNORE");

  const config: Config = {
    command: cmd,
    args,
    stopTimeoutMs: parseDuration(stop.text, "s", stop.from),
    signalScope: single ? "child" : "group",
    restart: parseChoice(restart.text, ["on-failure", "always", "never"] as const, restart.from),
    maxRestarts: parseCount(maxR.text, maxR.from),
    restartWindowMs: parseDuration(window.text, "s", window.from),
    changeWindowMs: everyCrash.on ? 0 : changeWindowMs,
    restartSignal,
    stopSignal,
    triggerFile: trigger.path,
    triggerFileExplicit: trigger.explicit,
    watch: list(raw.watch, env, "PIDONE_WATCH").map((p) => path.resolve(cwd, p)),
    ignore: [...DEFAULTS.ignore, ...ignore],
    debounceMs: parseDuration(debounce.text, "ms", debounce.from),
    pollMs: poll.from !== "--poll" && isOff(pollText) ? null : parseDuration(pollText, "ms", poll.from),
    controlSocket: control.path,
    controlSocketExplicit: control.explicit,
    logLevel: parseChoice(level.text, LOG_LEVELS, level.from),
    logFormat: parseChoice(format.text, ["json", "pretty", "auto"] as const, format.from),
  };
  if (config.pollMs === 0) throw new ConfigError(`${poll.from}: polling interval must be above 0`);
  return Object.freeze({ ...config, ...normalizeListenHealthOverlap(raw, env, cwd), ...normalizePreload(raw, env) });
}

/** --preload: a comma-separated list of module names (whether the command is Python, and whether
 *  they import, is preflight's and the zygote's to say). */
function normalizePreload(raw: RawOptions, env: NodeJS.ProcessEnv): Partial<Config> {
  const { value, from } = pick(raw.preload, env, { flag: "--preload", env: "PIDONE_PRELOAD" });
  if (value === undefined || (from === "PIDONE_PRELOAD" && isOff(String(value)))) return {};
  const modules = String(value).split(",").map((m) => m.trim()).filter(Boolean);
  if (modules.length === 0) throw new ConfigError(`${from}: no module given (use e.g. --preload flask,sqlalchemy)`);
  for (const m of modules) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(m)) {
      throw new ConfigError(`${from}: '${m}' is not a Python module name (use dotted names separated by commas, e.g. flask,sqlalchemy.orm)`);
    }
  }
  return { preload: Object.freeze([...new Set(modules)]) };
}

/** --overlap needs TCP --listen addresses (the steering between two generations' sockets) and
 *  no unix one (a single shared socket cannot be steered). */
function normalizeOverlap(
  raw: RawOptions, env: NodeJS.ProcessEnv, from: string, listen: readonly ListenAddress[],
  given: { notify: boolean; http: string | undefined },
): Overlap {
  if (listen.length === 0) throw new ConfigError(`${from}: needs --listen (PIDONE_LISTEN) with a TCP address: the next generation starts on a socket of its own`);
  const unix = listen.find((a) => a.kind === "unix");
  if (unix) throw new ConfigError(`${from}: --listen ${unix.text} is a unix socket, which cannot be steered between two generations (use TCP addresses with --overlap)`);
  const timeout = pick(raw.readyTimeout, env, { flag: "--ready-timeout", env: "PIDONE_READY_TIMEOUT" });
  const readyTimeoutMs = parseDuration(timeout.value === undefined ? DEFAULTS.readyTimeout : String(timeout.value), "s", timeout.value === undefined ? "--ready-timeout (default)" : timeout.from);
  if (readyTimeoutMs === 0) throw new ConfigError(`${timeout.from}: must be above 0`);
  let readySignal: ReadySignal = { kind: "accept" };
  if (given.notify) readySignal = { kind: "notify" };
  else if (given.http !== undefined) {
    const url = new URL(given.http);
    readySignal = { kind: "http", path: `${url.pathname}${url.search}`, host: url.host };
  }
  return { readySignal, readyTimeoutMs };
}

/** --listen, --health, --ready-tcp, --ready-http and --overlap, which lean on each other (--overlap
 *  needs --listen; --ready-http PATH resolves against it). Only the options given appear. */
function normalizeListenHealthOverlap(raw: RawOptions, env: NodeJS.ProcessEnv, cwd: string): Partial<Config> {
  const listen = normalizeListen(raw, env, cwd);
  const health = normalizeHealth(raw, env, cwd);
  const overlap = raw.overlap === true ? { on: true, from: "--overlap" }
    : env.PIDONE_OVERLAP !== undefined ? { on: parseBool(env.PIDONE_OVERLAP, "PIDONE_OVERLAP"), from: "PIDONE_OVERLAP" } : { on: false, from: "" };
  // Without --health the checks still serve: `pidone restart` waits for them.
  const out: Partial<Config> = { ...health, ...normalizeReadyChecks(raw, env, cwd, overlap.on ? listen : null) };
  if (listen.length > 0) out.listen = Object.freeze(listen);
  if (overlap.on) out.overlap = normalizeOverlap(raw, env, overlap.from, listen, { notify: raw.readyNotify === true || (env.PIDONE_READY_NOTIFY !== undefined && parseBool(env.PIDONE_READY_NOTIFY, "PIDONE_READY_NOTIFY")), http: out.readyHttp });
  else if (raw.readyNotify === true || raw.readyTimeout !== undefined) {
    throw new ConfigError(`${raw.readyNotify === true ? "--ready-notify" : "--ready-timeout"}: only with --overlap (PIDONE_OVERLAP=1)`);
  }
  return out;
}

/** --listen: the addresses, each given once. */
function normalizeListen(raw: RawOptions, env: NodeJS.ProcessEnv, cwd: string): ListenAddress[] {
  const from = raw.listen !== undefined ? "--listen" : "PIDONE_LISTEN";
  const listen = list(raw.listen, env, "PIDONE_LISTEN").map((a) => parseListenAddress(a, from, cwd));
  const seen = new Set<string>();
  for (const a of listen) {
    if (seen.has(a.text)) throw new ConfigError(`${from}: ${a.text} is given twice`);
    seen.add(a.text);
  }
  return listen;
}

/** --health: where the health server listens; PIDONE_HEALTH can say off. */
function normalizeHealth(raw: RawOptions, env: NodeJS.ProcessEnv, cwd: string): Pick<Config, "health"> {
  const health = pick(raw.health, env, { flag: "--health", env: "PIDONE_HEALTH" });
  if (health.value === undefined || (health.from === "PIDONE_HEALTH" && isOff(String(health.value)))) return {};
  return { health: parseListenAddress(String(health.value), health.from, cwd) };
}

/** --ready-tcp and --ready-http, the checks of /readyz and `pidone restart`. With --overlap
 *  (`overlapListen` given) --ready-http may be a PATH, asked of the first TCP --listen address. */
function normalizeReadyChecks(
  raw: RawOptions, env: NodeJS.ProcessEnv, cwd: string, overlapListen: readonly ListenAddress[] | null,
): Pick<Config, "readyTcp" | "readyHttp"> {
  const out: Pick<Config, "readyTcp" | "readyHttp"> = {};
  const tcp = pick(raw.readyTcp, env, { flag: "--ready-tcp", env: "PIDONE_READY_TCP" });
  if (tcp.value !== undefined && String(tcp.value).trim() !== "") {
    const a = parseListenAddress(String(tcp.value), tcp.from, cwd, "127.0.0.1");
    if (a.kind !== "tcp") throw new ConfigError(`${tcp.from}: '${String(tcp.value)}' is not a TCP address (use PORT or HOST:PORT)`);
    out.readyTcp = a;
  }
  const http = pick(raw.readyHttp, env, { flag: "--ready-http", env: "PIDONE_READY_HTTP" });
  const httpText = http.value === undefined ? "" : String(http.value).trim();
  if (overlapListen !== null && httpText.startsWith("/")) {
    // --overlap probes through the held socket, so a path is enough; /readyz (with --health)
    // then asks the serving generation on the first --listen address.
    const first = overlapListen.find((a) => a.kind === "tcp");
    if (first && first.kind === "tcp") {
      const host = loopbackHost(first);
      out.readyHttp = new URL(httpText, `http://${host.includes(":") ? `[${host}]` : host}:${first.port}`).href;
    }
  } else if (httpText !== "") {
    let url: URL | null = null;
    try {
      url = new URL(httpText);
    } catch {
      // reported below
    }
    if (url === null || url.protocol !== "http:") throw new ConfigError(`${http.from}: invalid URL '${httpText}' (use an http:// URL, e.g. http://127.0.0.1:8000/healthz)`);
    out.readyHttp = url.href;
  }
  return out;
}
