// Runs `pidone sync` (the laptop side) from the built bundle with --json, collects its events and
// lets a test wait for them with deadlines; plus a tree snapshot for comparing both ends.
import { lstatSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import path from "node:path";
import { BUNDLE, eventLines } from "./pidone.js";
import { Watched, type Exit } from "./process.js";
import { readable } from "./readable.js";

/** One JSON event of `pidone sync --json`. */
export type SyncEvent = { event: string; [k: string]: unknown };

/** The environment without what makes Node start slowly (NODE_EXTRA_CA_CERTS) or differently. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  delete env.NODE_OPTIONS;
  return env;
}

/** `--via` and `--remote-command` for a receiver on this machine talking to `socket`. */
export function localVia(socket: string): string[] {
  return ["--via", `env PIDONE_CONTROL_SOCKET=${socket}`, "--remote-command", `${process.execPath} ${BUNDLE}`];
}

const running = new Set<SyncProc>();

/** A running `pidone sync`. */
export class SyncProc extends Watched {
  readonly events: SyncEvent[] = [];
  private feed = eventLines<SyncEvent>((ev) => this.events.push(ev));

  /** `wrap` goes before node, e.g. setpriv to run the sender as another user (who then runs node
   *  and the bundle from where it can read them). */
  constructor(args: string[], wrap: readonly string[] = []) {
    const asOther = wrap.some((a) => a.startsWith("--reuid"));
    const [cmd, ...argv] = [...wrap, asOther ? readable(process.execPath) : process.execPath, asOther ? readable(BUNDLE) : BUNDLE, "sync", "--json", ...args] as [string, ...string[]];
    super(cmd, argv, { env: cleanEnv(), label: "pidone sync", defaultTimeoutMs: 15_000 });
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  /** What `pidone sync --json` printed on stdout (its events). */
  get stdout(): string {
    return this.stdoutBytes.toString("utf8");
  }

  get stderr(): string {
    return this.stderrText;
  }

  protected override onStdout(chunk: Buffer): void {
    this.feed(chunk.toString("utf8"));
  }

  all(event: string): SyncEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  /** The n-th (1-based) event named `event`. */
  waitFor(event: string, n = 1, timeoutMs = 15_000): Promise<SyncEvent> {
    return this.until(() => this.all(event)[n - 1], `sync event '${event}' #${n}`, timeoutMs);
  }

  override waitExit(timeoutMs = 20_000): Promise<Exit> {
    return super.waitExit(timeoutMs);
  }
}

/** Start `pidone sync --json ARGS` (behind `wrap`, if given). */
export function startSync(args: string[], wrap: readonly string[] = []): SyncProc {
  return new SyncProc(args, wrap);
}

/** Kill every sender a test left running. */
export async function cleanupSyncs(): Promise<void> {
  await Promise.all([...running].map((s) => s.kill(3000)));
}

/** The receiver's staging files, renamed into place (or removed) while a test may be reading. */
const STAGING = /^\.pidone-sync-.*\.tmp$/;

/** A tree as comparable text: path, kind, exec bit, content or link target (skipping `skip` names
 *  and the receiver's staging files). An entry that vanishes between listing and reading (renamed
 *  or removed by the code under test) is not part of the snapshot. */
export function snapshot(root: string, skip: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const gone = (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT";
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(path.join(root, rel)).sort();
    } catch (err) {
      if (rel !== "" && gone(err)) return;
      throw err;
    }
    for (const name of names) {
      if (skip.includes(name) || STAGING.test(name)) continue;
      const r = rel === "" ? name : `${rel}/${name}`;
      const abs = path.join(root, r);
      try {
        const st = lstatSync(abs);
        if (st.isSymbolicLink()) out[r] = `link ${readlinkSync(abs)}`;
        else if (st.isDirectory()) {
          out[r] = "dir";
          walk(r);
        } else out[r] = `file ${(st.mode & 0o100) !== 0 ? "x" : "-"} ${readFileSync(abs, "utf8")}`;
      } catch (err) {
        if (!gone(err)) throw err;
        delete out[r];
      }
    }
  };
  walk("");
  return out;
}
