// Paths LOCAL_DIR holds but this user cannot read (a directory it cannot list, an entry below one
// it cannot search): what is there is unknown, so nothing at or below them is deleted remotely.
// Each is warned about once; the rest of the tree syncs on. Portable.
import { atOrBelow } from "./plan.js";

/** The unreadable paths of LOCAL_DIR, and the warnings already given about them. */
export class UnreadablePaths {
  private paths = new Set<string>();
  private warned = new Set<string>();

  constructor(private warn: (line: string) => void) {}

  /** A scan or a read could not read `rel`: remember it, and say so once (not again for a path
   *  below a directory already found unreadable: it is said with it). */
  readonly cannotRead = (rel: string, err: NodeJS.ErrnoException): void => {
    const said = this.unknown(rel);
    this.paths.add(rel);
    if (said || this.warned.has(rel)) return;
    this.warned.add(rel);
    this.warn(`cannot read ${rel === "" ? "." : rel} in LOCAL_DIR (${err.code ?? err.message}): not sent, and its remote copy is left alone`);
  };

  /** fn(), or undefined when it could not read `rel` (said once, by cannotRead). */
  tryRead<T>(rel: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.cannotRead(rel, err as NodeJS.ErrnoException);
      return undefined;
    }
  }

  /** Is `p`, or a directory above it (LOCAL_DIR itself: ""), unreadable? */
  unknown(p: string): boolean {
    return this.paths.size > 0 && (this.paths.has("") || atOrBelow(p, this.paths));
  }

  /** Forget them all: a full scan is about to find them again. */
  clear(): void {
    this.paths.clear();
  }

  /** Forget those at or below `p`: it is about to be read again. */
  forgetAt(p: string): void {
    for (const u of this.paths) if (u === p || u.startsWith(`${p}/`)) this.paths.delete(u);
  }
}
