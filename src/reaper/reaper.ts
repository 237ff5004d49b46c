// Reaps zombies that are not Node's own children: orphans re-parented to pidone (as PID 1 or as
// a child subreaper). libuv waits for the children it spawned by pid (waitpid(pid, WNOHANG)); a
// waitpid(-1) here would steal their status and Node would never emit their 'exit'. So this
// reaps only pids it reads from pidone's own children list that Node did not spawn.
import type { Libc } from "../sys/libc.js";
import { directChildren } from "../sys/proc.js";

/** Result of a reaping pass. */
export interface ReapResult {
  reaped: number[];
  /** Direct children still present after the pass (living, or Node's own not yet collected). */
  remaining: number;
}

/** A reaper bound to the set of pids Node owns. */
export class Reaper {
  constructor(
    private readonly libc: () => Libc | null,
    private readonly owned: ReadonlySet<number>,
  ) {}

  /** Reap every zombie child pidone does not own. Loops while it finds some, because SIGCHLD
   *  deliveries coalesce: one signal may stand for many exits. */
  reap(): ReapResult {
    const reaped: number[] = [];
    let children = directChildren();
    const libc = this.libc();
    if (libc === null) return { reaped, remaining: children.length };
    for (let pass = 0; pass < 64; pass++) {
      let found = 0;
      for (const pid of children) {
        if (this.owned.has(pid)) continue;
        if (libc.reapIfZombie(pid) === pid) {
          reaped.push(pid);
          found++;
        }
      }
      if (found === 0) break;
      children = directChildren();
    }
    return { reaped, remaining: children.length };
  }
}
