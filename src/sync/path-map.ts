// What the app printed names files by their path in the container (a traceback's
// `File "/app/app.py", line 12`); on the laptop those are shown as the matching path under
// LOCAL_DIR as the user typed it, so an editor's terminal opens `local/app.py`. Only whole path
// tokens are mapped: REMOTE_DIR + "/" where no path character comes before it (never `/app2/x`,
// never `/srv/app/x` for /app). Pure and portable.

/** Characters that continue a path token: one of these right before REMOTE_DIR means it is the
 *  middle of another name, not the start of a path. */
const PATH_CHAR = /[A-Za-z0-9_.~+@%$\-/\\]/;

/** REMOTE_DIR as the prefix paths start with: without trailing slashes; null for "/" or a
 *  relative path (nothing the app prints names files that way for certain). */
function remotePrefix(remoteDir: string): string | null {
  const dir = remoteDir.replace(/\/+$/, "");
  return dir.startsWith("/") && dir.length > 1 ? `${dir}/` : null;
}

/** LOCAL_DIR as typed, ready for a relative path to be appended (its own separator kept). */
function localPrefix(localDir: string): string {
  const sep = localDir.includes("\\") && !localDir.includes("/") ? "\\" : "/";
  const dir = localDir.replace(/[\\/]+$/, "");
  return dir === "" ? sep : `${dir}${sep}`;
}

/** Returns a function that rewrites, in a text, every path token under one of `remoteDirs` (the
 *  longest first) into the same path under `localDir` as typed. */
export function pathMapper(remoteDirs: readonly string[], localDir: string): (text: string) => string {
  const prefixes = [...new Set(remoteDirs.map(remotePrefix).filter((p): p is string => p !== null))].sort((a, b) => b.length - a.length);
  if (prefixes.length === 0) return (text) => text;
  const local = localPrefix(localDir);
  const sep = local.endsWith("\\") ? "\\" : "/";
  return (text) => {
    let out = "";
    let from = 0;
    for (let i = text.indexOf("/"); i >= 0; i = text.indexOf("/", i + 1)) {
      if (i < from || (i > 0 && PATH_CHAR.test(text[i - 1] as string))) continue;
      const p = prefixes.find((x) => text.startsWith(x, i));
      if (p === undefined) continue;
      const end = tokenEnd(text, i + p.length);
      out += text.slice(from, i) + local + (sep === "/" ? text.slice(i + p.length, end) : text.slice(i + p.length, end).replaceAll("/", sep));
      from = end;
      i = end - 1;
    }
    return out + text.slice(from);
  };
}

/** Where the path token that continues at `at` ends: at whitespace, a quote, or a character
 *  that closes or separates (a `:line` suffix is kept as it was, after the mapped path). */
function tokenEnd(text: string, at: number): number {
  let i = at;
  while (i < text.length && PATH_CHAR.test(text[i] as string)) i++;
  return i;
}
