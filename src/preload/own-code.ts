// "Never wrong, only sometimes cold": preloading the app's own code would freeze it (what Rails'
// Spring got wrong), so a preload that imports a file of the app is refused.
import { realpathSync } from "node:fs";
import path from "node:path";

/** The first preloaded module whose file lies under a guarded directory, or null. Files of the
 *  standard library and of installed packages (site-packages, dist-packages) are third-party code
 *  even there: a virtualenv inside the project, a working directory of /. */
export function ownCode(
  modules: readonly (readonly [string, string])[], guarded: readonly string[], stdlib: string,
): { module: string; file: string; dir: string } | null {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  const dirs = guarded.map(real);
  const lib = real(stdlib);
  const under = (file: string, dir: string) => file === dir || file.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
  for (const [module, f] of modules) {
    const file = real(f);
    if (under(file, lib) || /\/(site-packages|dist-packages|lib-dynload)\//.test(file)) continue;
    const dir = dirs.find((d) => under(file, d));
    if (dir !== undefined) return { module, file, dir };
  }
  return null;
}
