// pino, synchronous, to stderr, no transports: transports are worker threads that bundle badly,
// and buffered lines can be lost when PID 1 exits. JSON lines for log collectors; short readable
// lines on a TTY.
import { writeSync } from "node:fs";
import { isatty } from "node:tty";
import pino, { type Logger } from "pino";
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

/** Create the logger. `format` auto means pretty when stderr is a TTY. */
export function createLogger(level: LogLevelName, format: "json" | "pretty" | "auto"): Logger {
  // isatty(2), not process.stderr.isTTY: touching process.stderr makes libuv set O_NONBLOCK on
  // fd 2, a flag of the open file that the app shares, and its writes would start failing EAGAIN.
  const pretty = format === "pretty" || (format === "auto" && isatty(2));
  const stream = pretty
    ? { write: (line: string) => void writeSync(2, prettyLine(line)) }
    : pino.destination({ dest: 2, sync: true });
  return pino({ level, base: undefined, messageKey: "msg" }, stream);
}
