// Whether and how pidone captures the app's output: the streams that are not terminals, when the
// pipe syscalls load. Before the first spawn, since its pipes are made there.
import type { Logger } from "pino";
import { isatty } from "../sys/binding.js";
import { loadPipes } from "../sys/pipes.js";
import { sendLogLinesTo } from "../log.js";
import { OutputCapture } from "./capture.js";

/** The capture, with pidone's log lines routed through it; null when nothing is captured. */
export function startCapture(opts: { log: Logger }): { capture: OutputCapture } | null {
  const streams: [boolean, boolean] = [!isatty(1), !isatty(2)];
  if (!streams[0] && !streams[1]) return null;
  let capture: OutputCapture;
  try {
    capture = new OutputCapture(loadPipes(), streams);
  } catch (err) {
    opts.log.warn({ event: "output-not-captured", reason: (err as Error).message, note: "the app writes to pidone's stdout and stderr directly; pidone logs has nothing to show" });
    return null;
  }
  sendLogLinesTo(capture.logSink());
  return { capture };
}
