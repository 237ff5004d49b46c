// Which remote paths the sender may delete when LOCAL_DIR lacks them: with --delete any, else
// only those LOCAL_DIR has had in this run (deleted locally, perhaps while the transport was
// down), and never what LOCAL_DIR ignores or cannot read. Portable.
import { atOrBelow } from "./plan.js";
import type { Entry } from "./tree.js";
import type { UnreadablePaths } from "./unreadable.js";

/** The paths LOCAL_DIR has had in this run (as of the last batch applied). */
export class Ownership {
  private seen = new Set<string>();

  constructor(
    private deleteExtra: boolean,
    private skip: (rel: string, isDir: boolean) => boolean,
    private unreadable: UnreadablePaths,
  ) {}

  /** May the remote path `p`, which LOCAL_DIR lacks, be deleted? Never what LOCAL_DIR ignores,
   *  nor what may only look missing because it cannot be read. */
  owns(model: ReadonlyMap<string, Entry>, p: string): boolean {
    return !this.skip(p, model.get(p)?.kind === "d") && (this.deleteExtra || this.seen.has(p)) && !this.unreadable.unknown(p);
  }

  /** After a reconcile: LOCAL_DIR has exactly `paths`. */
  reset(paths: Iterable<string>): void {
    this.seen = new Set(paths);
  }

  /** After a batch: what is at or below the changed paths now is `local`. */
  see(changed: readonly string[], local: ReadonlyMap<string, Entry>): void {
    const at = new Set(changed);
    for (const p of this.seen) if (!local.has(p) && !this.unreadable.unknown(p) && atOrBelow(p, at)) this.seen.delete(p);
    for (const p of local.keys()) this.seen.add(p);
  }
}
