// The sender's connection to `pidone receive`: runs `PREFIX REMOTE_COMMAND receive REMOTE_DIR`
// (rsync's -e and --rsync-path) and speaks frames over its stdin/stdout. The child's stderr is
// passed on line by line. Portable: child_process and streams only.
import { spawn, type ChildProcess } from "node:child_process";
import { FrameDecoder, decodeReceiverMessage, encodeFrame, isNotice, type ReceiverMessage, type ReceiverNotice } from "./protocol.js";

/** The transport died or could not be started: reconnect. */
export class TransportError extends Error {
  override name = "TransportError";
}

/** The receiver refused something and said why. */
export class RemoteError extends Error {
  override name = "RemoteError";
}

/** Split a --via or --remote-command string into argv, without a shell: whitespace separates,
 *  '...' is literal, "..." allows \" and \\, a backslash outside quotes escapes one character. */
export function splitCommand(s: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in '${s}'`);
      cur += s.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      i++;
      for (; i < s.length && s[i] !== '"'; i++) {
        if (s[i] === "\\" && (s[i + 1] === '"' || s[i + 1] === "\\")) i++;
        cur += s[i];
      }
      if (i >= s.length) throw new Error(`unterminated " in '${s}'`);
      inWord = true;
    } else if (c === "\\" && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

/** One running transport with a frame queue. */
export class Connection {
  private child: ChildProcess;
  private decoder = new FrameDecoder();
  private queue: ReceiverMessage[] = [];
  private waiters: { resolve: (m: ReceiverMessage) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;
  private lastStderr = "";
  /** Settles (never rejects) with the reason once the transport is gone. */
  readonly closed: Promise<Error>;

  constructor(readonly argv: readonly string[], onStderr: (line: string) => void, private onNotice: (m: ReceiverNotice) => void = () => {}) {
    const [cmd, ...args] = argv;
    this.child = spawn(cmd as string, args, { stdio: ["pipe", "pipe", "pipe"], windowsHide: true });
    let resolveClosed: (e: Error) => void = () => {};
    this.closed = new Promise((r) => (resolveClosed = r));
    const fail = (err: Error) => {
      if (this.failure) return;
      this.failure = err;
      for (const w of this.waiters.splice(0)) w.reject(err);
      resolveClosed(err);
    };
    this.child.on("error", (err: NodeJS.ErrnoException) => fail(new TransportError(`cannot run '${cmd}': ${err.code ?? err.message}`)));
    this.child.stdin?.on("error", () => {}); // EPIPE: reported by the exit below
    this.child.stdout?.on("data", (chunk: Buffer) => {
      try {
        for (const f of this.decoder.push(chunk)) this.deliver(decodeReceiverMessage(f));
      } catch (err) {
        fail(new TransportError(`bad stream from the receiver: ${(err as Error).message} (is '${argv.join(" ")}' running pidone receive?)`));
        this.kill();
      }
    });
    let partial = "";
    this.child.stderr?.on("data", (d: Buffer) => {
      const lines = (partial + d.toString("utf8")).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (line.trim() === "") continue;
        this.lastStderr = line;
        onStderr(line);
      }
    });
    this.child.on("close", (code, signal) => {
      if (partial.trim() !== "") {
        this.lastStderr = partial;
        onStderr(partial);
      }
      const how = signal ? `signal ${signal}` : `exit ${code}`;
      fail(new TransportError(`'${argv.join(" ")}' ended (${how})${this.lastStderr ? `: ${this.lastStderr.trim()}` : ""}`));
    });
  }

  private deliver(m: ReceiverMessage): void {
    // Notices come whenever they happen, between the answers the sender waits for.
    if (isNotice(m)) return this.onNotice(m);
    const w = this.waiters.shift();
    if (w) {
      if (m.t === "error") w.reject(new RemoteError(m.message));
      else w.resolve(m);
    } else this.queue.push(m);
  }

  /** The next message; rejects with TransportError when the transport is gone, RemoteError when
   *  the receiver reports an error, or after `timeoutMs`. */
  next(timeoutMs = 0): Promise<ReceiverMessage> {
    const m = this.queue.shift();
    if (m) return m.t === "error" ? Promise.reject(new RemoteError(m.message)) : Promise.resolve(m);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const w = {
        resolve: (v: ReceiverMessage) => { if (timer) clearTimeout(timer); resolve(v); },
        reject: (e: Error) => { if (timer) clearTimeout(timer); reject(e); },
      };
      this.waiters.push(w);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new TransportError(`no answer from '${this.argv.join(" ")}' within ${timeoutMs} ms`));
          this.kill();
        }, timeoutMs);
      }
    });
  }

  /** Expect a message of type `t`. */
  async expect<T extends ReceiverMessage["t"]>(t: T, timeoutMs = 0): Promise<Extract<ReceiverMessage, { t: T }>> {
    const m = await this.next(timeoutMs);
    if (m.t !== t) throw new TransportError(`expected '${t}' from the receiver, got '${m.t}'`);
    return m as Extract<ReceiverMessage, { t: T }>;
  }

  /** Send one frame, waiting for the pipe to drain when it is full (a slow transport must not
   *  make the sender buffer a whole tree in memory). */
  async send(header: object, payload?: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed) throw new TransportError("the transport's stdin is closed");
    if (!stdin.write(encodeFrame(header, payload))) {
      await Promise.race([new Promise((r) => stdin.once("drain", r)), this.closed]);
      if (this.failure) throw this.failure;
    }
  }

  /** End the stream cleanly (the receiver exits 0 at a batch boundary). */
  end(): void {
    this.child.stdin?.end();
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
  }
}
