// pino, synchronous, to stderr, no transports: transports are worker threads that bundle badly,
// and buffered lines can be lost when PID 1 exits. JSON lines for log collectors; short readable
// lines on a TTY. pino itself is loaded after the first spawn (createDeferredLogger).
import { writeSync } from "node:fs";
import { isatty } from "./sys/binding.js";
import type { Logger } from "pino";
import type { LogLevelName } from "./cli/config.js";

const LEVEL_NAMES: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };

/** Render one JSON log line as `12:00:01.234 INFO  restart source=signal newPid=7`. */
export function prettyLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, event, msg, ...rest } = rec;
  const t = new Date(typeof time === "number" ? time : Date.now()).toISOString().slice(11, 23);
  const lvl = (LEVEL_NAMES[level as number] ?? String(level)).toUpperCase().padEnd(5);
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${t} ${lvl} pidone: ${event ?? msg ?? ""}${fields ? ` ${fields}` : ""}\n`;
}

/** Where log lines go instead of fd 2 while the app's stderr is captured (src/output/capture.ts:
 *  pidone's line then waits for the app's unfinished one). */
let lineSink: ((line: string) => void) | null = null;

/** Send every log line to `sink` (null: back to fd 2). */
export function sendLogLinesTo(sink: ((line: string) => void) | null): void {
  lineSink = sink;
}

/** Create the logger. `format` auto means pretty when stderr is a TTY; `clock` gives each line's time. */
export function createLogger(level: LogLevelName, format: "json" | "pretty" | "auto", clock: () => number = Date.now): Logger {
  // Required here, not imported: pino and its dependencies are evaluated only when a logger is made.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pino = require("pino") as typeof import("pino");
  // isatty(2), not process.stderr.isTTY: touching process.stderr makes libuv set O_NONBLOCK on
  // fd 2, a flag of the open file that the app shares, and its writes would start failing EAGAIN.
  const pretty = format === "pretty" || (format === "auto" && isatty(2));
  const direct = pretty ? { write: (line: string) => void writeSync(2, prettyLine(line)) } : pino.destination({ dest: 2, sync: true });
  const stream = { write: (line: string) => (lineSink ? lineSink(pretty ? prettyLine(line) : line) : direct.write(line)) };
  return pino({ level, base: undefined, messageKey: "msg", timestamp: () => `,"time":${clock()}` }, stream);
}

type HeldLevel = "debug" | "info" | "warn" | "error";
/** Held events before pino loads on its own; pidone logs a handful before its first spawn. */
const MAX_HELD = 64;

/** A logger that holds its events until `load()`, which pidone calls right after the first spawn:
 *  loading pino and its dependencies takes milliseconds the app's start need not wait for. Held
 *  events keep their own time. An error, too many held events, or the process's exit load it at
 *  once, so nothing held is lost (pino writes synchronously). */
export function createDeferredLogger(level: LogLevelName, format: "json" | "pretty" | "auto"): { log: Logger; load(): void } {
  let real: Logger | null = null;
  let replayTime: number | null = null;
  const held: [HeldLevel, object, number][] = [];
  const load = (): Logger => {
    if (real) return real;
    const logger = createLogger(level, format, () => replayTime ?? Date.now());
    real = logger;
    for (const [lvl, obj, time] of held.splice(0)) {
      replayTime = time;
      logger[lvl](obj);
    }
    replayTime = null;
    return logger;
  };
  const method = (lvl: HeldLevel) => (obj: object) => {
    if (real) return real[lvl](obj);
    held.push([lvl, obj, Date.now()]);
    if (lvl === "error" || held.length >= MAX_HELD) load();
  };
  process.once("exit", () => void load());
  const rank: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
  // Every Logger method pidone calls (src/ uses these five; test/unit/log.test.ts keeps it so).
  const log = {
    debug: method("debug"), info: method("info"), warn: method("warn"), error: method("error"),
    isLevelEnabled: (l: string) => (real ? real.isLevelEnabled(l) : (rank[l] ?? 0) >= (rank[level] ?? 30)),
  };
  return { log: log as unknown as Logger, load: () => void load() };
}
