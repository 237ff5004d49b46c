// The one way a source is started after the app runs. PID 1 may no longer bail out once the app
// is spawned (its death kills the container), so a source that fails to start, or fails later
// (inotify exhausted, a server error), logs one warning naming the source and the reason and is
// turned off; pidone keeps supervising with the sources it has left.
import type { Logger } from "pino";

/** Stops a source; may be async. */
export type Closer = () => unknown;

/** Starts a source. `fail` turns it off later, from one of its own callbacks. */
export type SourceStarter = (fail: (err: unknown) => void) => Closer | Promise<Closer>;

/** The sources that are on, and the guard that starts them. */
export class Sources {
  private readonly on = new Map<string, Closer>();

  constructor(private readonly log: Logger) {}

  /** Start `name`; resolves to whether it runs. Never throws. */
  async start(name: string, starter: SourceStarter): Promise<boolean> {
    let failedEarly: unknown = null;
    const fail = (err: unknown) => {
      if (!this.on.has(name)) {
        failedEarly ??= err ?? new Error("failed");
        return;
      }
      this.off(name, err);
    };
    try {
      const close = await starter(fail);
      if (failedEarly !== null) {
        this.warn(name, failedEarly);
        safely(close);
        return false;
      }
      this.on.set(name, close);
      return true;
    } catch (err) {
      this.warn(name, err);
      return false;
    }
  }

  /** Names of the sources that run. */
  names(): string[] {
    return [...this.on.keys()];
  }

  /** Stop every source (at exit). */
  closeAll(): void {
    for (const close of this.on.values()) safely(close);
    this.on.clear();
  }

  private off(name: string, err: unknown): void {
    const close = this.on.get(name);
    this.on.delete(name);
    this.warn(name, err);
    if (close) safely(close);
  }

  private warn(name: string, err: unknown): void {
    const e = err as NodeJS.ErrnoException | null;
    this.log.warn({ event: "source-failed", source: name, error: e?.code ?? e?.message ?? String(err), note: "this source is off; pidone keeps supervising" });
  }
}

function safely(close: Closer): void {
  try {
    const r = close();
    if (r instanceof Promise) r.catch(() => {});
  } catch {
    // a source that cannot even close is off all the same
  }
}
