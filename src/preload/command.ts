// The app's command line read as Python would read it, once, at the edge: which interpreter, its
// options, and what it runs (-m MODULE, -c CODE or a script), with console scripts (`flask`,
// `gunicorn`) resolved through their #! line. The zygote needs this to start the same interpreter
// and to run the app in each fork exactly as that interpreter would.
import { closeSync, openSync, readSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { findExecutable } from "../child/spawn.js";

/** What the interpreter runs after its options. */
export type PythonRun =
  | { kind: "module"; name: string }
  | { kind: "code"; code: string }
  | { kind: "script"; path: string };

/** A Python command line, split the way the interpreter splits it. */
export interface PythonCommand {
  /** The interpreter to start the zygote with: as given, or from the script's #! line. */
  interpreter: string;
  /** Interpreter options before -m/-c/the script (-u, -O, -X dev, -W error, ...). */
  options: readonly string[];
  run: PythonRun;
  /** The app's own arguments (sys.argv[1:]). */
  args: readonly string[];
  /** sys.orig_argv of a cold run: the interpreter's argv as the kernel hands it over. */
  origArgv: readonly string[];
}

/** Options that take no value; they may be grouped (-uB). */
const FLAGS = new Set("bBdEIOPqRsSuv");
/** Options that take a value, attached (-Wignore) or as the next argument. */
const WITH_VALUE = new Set("WX");
const REFUSED: Record<string, string> = {
  i: "-i (interactive) cannot be preloaded",
  x: "-x (skip the first line) cannot be preloaded",
  h: "-h prints help, it runs no app",
  V: "-V prints the version, it runs no app",
  "?": "-? prints help, it runs no app",
};

/** Is this file name a CPython interpreter (python, python3, python3.11)? */
export function isPythonName(file: string): boolean {
  return /^python[0-9.]*$/.test(path.basename(file));
}

/** Split `python3 [options] (-m MOD | -c CODE | SCRIPT | -) args...` (argv without the
 *  interpreter). Throws ConfigError naming what cannot be preloaded. */
export function parsePythonArgs(interpreter: string, argv: readonly string[], origArgv0 = interpreter): PythonCommand {
  const options: string[] = [];
  // orig_argv is what the interpreter was handed, as it was handed.
  const done = (run: PythonRun, at: number): PythonCommand => ({ interpreter, options, run, args: argv.slice(at), origArgv: [origArgv0, ...argv] });
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "-") throw new ConfigError(`--preload: '${interpreter} -' reads the program from stdin, which cannot be preloaded`);
    if (a === "--") {
      const script = argv[i + 1];
      if (script === undefined) break;
      return done({ kind: "script", path: script }, i + 2);
    }
    if (!a.startsWith("-")) return done({ kind: "script", path: a }, i + 1);
    if (a.startsWith("--")) {
      if (a === "--check-hash-based-pycs") {
        const v = argv[++i];
        if (v === undefined) throw new ConfigError(`--preload: ${interpreter} ${a} needs a value`);
        options.push(a, v);
        continue;
      }
      throw new ConfigError(`--preload: unsupported interpreter option ${a} in the app's command (supported: -bBdEIOPqRsSuv, -W, -X, --check-hash-based-pycs)`);
    }
    // A group of one-letter options, possibly ending in one that takes a value.
    for (let j = 1; j < a.length; j++) {
      const c = a[j] as string;
      if (FLAGS.has(c)) continue;
      if (c === "m" || c === "c" || WITH_VALUE.has(c)) {
        const attached = a.slice(j + 1);
        const value = attached !== "" ? attached : argv[i + 1];
        if (value === undefined) throw new ConfigError(`--preload: ${interpreter} -${c} needs a value`);
        const head = a.slice(0, j);
        if (head !== "-") options.push(head);
        if (attached === "") i++;
        if (c === "m") return done({ kind: "module", name: value }, i + 1);
        if (c === "c") return done({ kind: "code", code: value }, i + 1);
        options.push(...(attached !== "" ? [`-${c}${attached}`] : [`-${c}`, value]));
        break;
      }
      throw new ConfigError(`--preload: ${REFUSED[c] ?? `unknown interpreter option -${c} in the app's command`}`);
    }
    if (!/[mcWX]/.test(a.slice(1))) options.push(a);
  }
  throw new ConfigError(`--preload: '${[interpreter, ...argv].join(" ")}' starts an interactive interpreter, not an app (use -m MODULE, -c CODE or a script)`);
}

/** Reads the first line of an executable, for its #! line; null if it cannot. */
export type ReadShebang = (file: string) => string | null;

/** The first line of `file` if it starts with #! (at most 256 bytes, as the kernel reads). */
export function readShebang(file: string): string | null {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString("latin1");
    if (!text.startsWith("#!")) return null;
    return text.slice(2).split("\n")[0] as string;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** The app's command as a Python command line: `python3 ...` directly, or a script whose #! line
 *  names a Python interpreter (directly or through /usr/bin/env). Throws ConfigError otherwise. */
export function resolvePythonCommand(
  command: string, args: readonly string[], pathVar: string | undefined, read: ReadShebang = readShebang,
): PythonCommand {
  if (isPythonName(command)) return parsePythonArgs(command, args);
  const file = resolveOnPath(command, pathVar);
  const line = file === null ? null : read(file);
  const notPython = `--preload: '${command}' is not a Python interpreter or a script run by one (use e.g. python3 -m MODULE, python3 app.py, or a console script such as flask or gunicorn)`;
  if (file === null) throw new ConfigError(`--preload: ${command}: command not found (it must be a Python interpreter or a script run by one)`);
  if (line === null) throw new ConfigError(notPython);
  // Linux splits a #! line once: the interpreter, then everything after it as one argument.
  const m = /^[ \t]*(\S+)(?:[ \t]+(.*?))?[ \t]*$/.exec(line.replace(/\r$/, ""));
  if (!m) throw new ConfigError(notPython);
  let interp = m[1] as string;
  let rest = m[2] ?? "";
  const viaEnv = path.basename(interp) === "env";
  if (viaEnv) {
    if (rest === "" || /\s/.test(rest)) throw new ConfigError(notPython);
    interp = rest;
    rest = "";
  }
  if (!isPythonName(interp)) throw new ConfigError(notPython);
  // The kernel runs `interp [rest] FILE args...`; FILE is the path execvp found.
  const cmd = parsePythonArgs(interp, [...(rest ? [rest] : []), file, ...args]);
  if (cmd.run.kind !== "script" || cmd.run.path !== file) throw new ConfigError(notPython);
  return cmd;
}

/** The file execvp would run for `command`, or null. */
function resolveOnPath(command: string, pathVar: string | undefined): string | null {
  if (command.includes("/")) return findExecutable(command, pathVar) === null ? command : null;
  for (const dir of (pathVar ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    const file = path.join(dir || ".", command);
    if (findExecutable(file, undefined) === null) return file;
  }
  return null;
}
