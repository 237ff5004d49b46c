// What a batch must do to make the receiver's tree equal the sender's: pure comparisons of two
// path -> Entry maps (the reconcile on connect, and each settled batch of watched changes), and
// the sender's model of the remote tree after a batch is applied. No I/O.
import type { Entry } from "./tree.js";

/** One operation of a batch (a file's content is read when it is sent). */
export type Op =
  | { t: "delete"; path: string }
  | { t: "mkdir"; path: string }
  | { t: "file"; path: string }
  | { t: "symlink"; path: string; target: string }
  | { t: "chmod"; path: string; exec: boolean };

const RANK: Record<Op["t"], number> = { delete: 0, mkdir: 1, symlink: 2, file: 2, chmod: 3 };

/** The order a receiver applies them in: deletes, directories (parents first), files and links, modes. */
export function orderOps(ops: Op[]): Op[] {
  return [...ops].sort((a, b) => RANK[a.t] - RANK[b.t] || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Compare one local entry with what the remote has. "hash" = same size, other mtime: only the
 *  content can tell (the caller asks the receiver for a hash, or, in watch mode, just sends). */
export function compare(path: string, local: Entry, remote: Entry | undefined): Op | "hash" | null {
  if (local.kind === "d") return remote?.kind === "d" ? null : { t: "mkdir", path };
  if (local.kind === "l") return remote?.kind === "l" && remote.target === local.target ? null : { t: "symlink", path, target: local.target as string };
  if (!remote || remote.kind !== "f" || remote.size !== local.size) return { t: "file", path };
  if (remote.mtimeMs !== local.mtimeMs) return "hash";
  return remote.exec === local.exec ? null : { t: "chmod", path, exec: local.exec };
}

/** Topmost paths of `paths` (a path below another one in the list is dropped). */
function topmost(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of [...paths].sort()) {
    const last = out[out.length - 1];
    if (last !== undefined && p.startsWith(`${last}/`)) continue;
    out.push(p);
  }
  return out;
}

/** The reconcile on connect: ops for every difference, plus the paths whose content must be
 *  hashed on both ends. A remote path LOCAL_DIR lacks is deleted only when `owned(path)`: with
 *  `--delete`, or when LOCAL_DIR had it earlier in this run (deleted while the transport was down). */
export function reconcilePlan(local: ReadonlyMap<string, Entry>, remote: ReadonlyMap<string, Entry>, owned: (path: string) => boolean): { ops: Op[]; hash: string[] } {
  const ops: Op[] = [];
  const hash: string[] = [];
  for (const [p, e] of local) {
    const r = compare(p, e, remote.get(p));
    if (r === "hash") hash.push(p);
    else if (r) ops.push(r);
  }
  const extra = [...remote.keys()].filter((p) => !local.has(p) && owned(p));
  for (const p of topmost(extra)) ops.push({ t: "delete", path: p });
  return { ops, hash };
}

/** Is `p` at or below one of `dirs`? */
export function atOrBelow(p: string, dirs: ReadonlySet<string>): boolean {
  if (dirs.has(p)) return true;
  for (let i = p.lastIndexOf("/"); i > 0; i = p.lastIndexOf("/", i - 1)) if (dirs.has(p.slice(0, i))) return true;
  return false;
}

/** A batch of watched changes: `changed` are paths the watcher reported, `local` their current
 *  entries (and those of everything below a changed directory), `model` the remote tree.
 *  A changed directory's whole content is in `local`, so a remote path below it that `local`
 *  lacks is gone from LOCAL_DIR even when the watcher never named it (the directory was moved
 *  away and made again, or its entry was never watched): it is deleted when `owned(path)`. */
export function changePlan(changed: Iterable<string>, local: ReadonlyMap<string, Entry>, model: ReadonlyMap<string, Entry>, owned: (path: string) => boolean): Op[] {
  const ops: Op[] = [];
  const gone: string[] = [];
  const dirs = new Set<string>();
  for (const p of new Set(changed)) {
    if (!local.has(p)) {
      if (model.has(p)) gone.push(p);
    } else if (local.get(p)?.kind === "d") dirs.add(p);
  }
  if (dirs.size > 0) for (const p of model.keys()) if (!local.has(p) && atOrBelow(p, dirs) && owned(p)) gone.push(p);
  for (const p of topmost(gone)) ops.push({ t: "delete", path: p });
  // Everything present locally at or below a changed path (a new directory brings its content,
  // whether or not the watcher has reported it yet).
  for (const [p, e] of local) {
    const r = compare(p, e, model.get(p));
    // In watch mode a same-size file with a new mtime is simply sent: it was just saved.
    if (r === "hash") ops.push({ t: "file", path: p });
    else if (r) ops.push(r);
  }
  return ops;
}

/** The remote tree after `ops` were applied; `sent` are the entries as they were sent. */
export function applyToModel(model: Map<string, Entry>, ops: readonly Op[], sent: ReadonlyMap<string, Entry>): void {
  const DIR: Entry = { kind: "d", size: 0, exec: false, mtimeMs: 0 };
  // The receiver creates missing parents: so does the model, or a later delete of one is missed.
  const addParents = (p: string) => {
    for (let i = p.indexOf("/"); i > 0; i = p.indexOf("/", i + 1)) {
      const parent = p.slice(0, i);
      if (model.get(parent)?.kind !== "d") model.set(parent, DIR);
    }
  };
  const dropBelow = (p: string) => {
    const prefix = `${p}/`;
    for (const k of model.keys()) if (k.startsWith(prefix)) model.delete(k);
  };
  for (const op of ops) {
    switch (op.t) {
      case "delete":
        model.delete(op.path);
        dropBelow(op.path);
        break;
      case "mkdir":
        addParents(op.path);
        if (model.get(op.path)?.kind !== "d") model.set(op.path, DIR);
        break;
      case "file":
      case "symlink": {
        const e = sent.get(op.path);
        addParents(op.path);
        if (model.get(op.path)?.kind === "d") dropBelow(op.path);
        if (e) model.set(op.path, e);
        break;
      }
      case "chmod": {
        const e = model.get(op.path);
        if (e) model.set(op.path, { ...e, exec: op.exec });
        break;
      }
    }
  }
}
