// Splitting a byte stream into bounded lines, for every line protocol pidone speaks (the control
// socket, the --preload zygote's replies). Imports nothing.

/** One event of a LineSplitter: a complete line, or the news that a line outgrew the bound. */
export type LineEvent = { kind: "line"; line: string } | { kind: "too-long" };

/** Split a byte stream into lines of at most `maxBytes`. Each chunk is scanned once, for its own
 *  newlines only, and at most `maxBytes` are kept between chunks: a line that outgrows the bound
 *  is reported once as too-long, and the splitter then stays stopped (the caller closes). */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private stopped = false;

  constructor(private readonly maxBytes: number) {}

  /** Feed a chunk; returns the events it completes, in order. */
  push(chunk: Buffer): LineEvent[] {
    const out: LineEvent[] = [];
    let start = 0;
    while (!this.stopped && start <= chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (this.size + (end - start) > this.maxBytes) {
        this.stop();
        out.push({ kind: "too-long" });
        break;
      }
      if (nl < 0) {
        if (end > start) {
          // Copy: a slice would pin the whole chunk the socket read into.
          this.parts.push(Buffer.from(chunk.subarray(start, end)));
          this.size += end - start;
        }
        break;
      }
      const line = this.parts.length === 0 ? chunk.toString("utf8", start, nl) : Buffer.concat([...this.parts, chunk.subarray(start, nl)]).toString("utf8");
      this.parts = [];
      this.size = 0;
      out.push({ kind: "line", line: line.endsWith("\r") ? line.slice(0, -1) : line });
      start = nl + 1;
    }
    return out;
  }

  /** End of stream: an unterminated last line counts as a line (a client may send it without a
   *  newline and then shut down its write side). */
  end(): LineEvent[] {
    if (this.stopped || this.size === 0) return [];
    const line = Buffer.concat(this.parts).toString("utf8");
    this.stop();
    return [{ kind: "line", line: line.endsWith("\r") ? line.slice(0, -1) : line }];
  }

  private stop(): void {
    this.stopped = true;
    this.parts = [];
    this.size = 0;
  }
}
