// The NOTIFY_SOCKET of a generation that --overlap starts with --ready-notify: one socket per
// generation, so whatever arrives on it comes from that generation. Abstract names only: nothing
// on disk to clean up.
import type { Sockets } from "../../sys/sockets.js";

/** At most one open notify socket: the one of the generation starting now. */
export class NotifySocket {
  private open: { fd: number; name: string } | null = null;
  private count = 0;

  constructor(private readonly sockets: Sockets) {}

  /** Close the last one, open a new one; returns the NOTIFY_SOCKET value that names it. */
  next(): string {
    this.close();
    const name = `pidone-notify-${process.pid}-${++this.count}`;
    this.open = { fd: this.sockets.notifySocket(name), name };
    return `@${name}`;
  }

  /** Whether a READY=1 has arrived since the last look (reads every datagram waiting). */
  readySent(): boolean {
    for (let msg = this.receive(); msg !== null; msg = this.receive()) {
      if (msg.split("\n").includes("READY=1")) return true;
    }
    return false;
  }

  close(): void {
    if (this.open) this.sockets.close(this.open.fd);
    this.open = null;
  }

  private receive(): string | null {
    return this.open && this.sockets.receive(this.open.fd);
  }
}
