// Every check that can be made before any side effect: run once, before anything is bound,
// created or spawned, so that a bad configuration is one line and exit 2 with nothing started.
// Only reads the file system. What a default cannot use is turned off with a warning instead
// (a read-only root file system must not stop pidone from being a plain init).
import { accessSync, constants as fsc, lstatSync, statSync } from "node:fs";
import path from "node:path";
import type { Config } from "./cli/config.js";
import { ConfigError } from "./errors.js";
import { inTheWay } from "./control/server.js";
import { socketPathProblem } from "./cli/listen-address.js";
import { resolvePythonCommand, type PythonCommand } from "./preload/command.js";

/** A default that cannot work here and was turned off; logged as a warning. */
export interface PreflightWarning {
  event: string;
  path: string;
  reason: string;
}

/** What pidone will run with, after the checks. */
export interface Plan {
  /** The trigger file, or null when off (by option, or a default that cannot work). */
  triggerFile: string | null;
  /** The control socket, or null when off. */
  controlSocket: string | null;
  /** The app's command read as a Python command line, with --preload. */
  python?: PythonCommand;
  warnings: PreflightWarning[];
}

/** Check `config` against the machine. Throws ConfigError for what the user asked for and
 *  cannot have; turns off defaults that cannot work, with a warning. */
export function preflight(config: Config): Plan {
  const warnings: PreflightWarning[] = [];
  for (const w of config.watch) {
    if (!exists(w)) throw new ConfigError(`--watch ${w}: no such file or directory`);
  }
  const usable = (file: string | null, explicit: boolean, option: string): string | null => {
    if (file === null) return null;
    const problem = dirProblem(file);
    if (problem === null) return file;
    if (explicit) throw new ConfigError(`${option} ${file}: ${problem}`);
    warnings.push({ event: `${option.slice(2)}-disabled`, path: file, reason: problem });
    return null;
  };
  return {
    triggerFile: usable(config.triggerFile, config.triggerFileExplicit, "--trigger-file"),
    // The default socket's directory may not exist yet: the control server creates it 0700 and
    // refuses one that is not private (src/control/server.ts).
    controlSocket: controlSocket(config, usable, warnings),
    warnings,
    ...(config.preload ? { python: resolvePythonCommand(config.command, config.args, process.env.PATH) } : {}),
  };
}

/** The control socket, unless something that is not a socket is in its way (pidone never removes
 *  that): an error if it was named, a warning for the default. */
function controlSocket(
  config: Config, usable: (file: string | null, explicit: boolean, option: string) => string | null, warnings: PreflightWarning[],
): string | null {
  const file = config.controlSocketExplicit ? usable(config.controlSocket, true, "--control-socket") : config.controlSocket;
  // An explicit path that long is refused by config.ts; a default one (a long $XDG_RUNTIME_DIR) is turned off.
  const problem = file === null ? null : socketPathProblem(file) ?? inTheWay(file);
  if (file === null || problem === null) return file;
  if (config.controlSocketExplicit) throw new ConfigError(`--control-socket: ${problem}`);
  warnings.push({ event: "control-socket-disabled", path: file, reason: problem });
  return null;
}

/** Why pidone cannot create and remove `file`, or null if it can. */
function dirProblem(file: string): string | null {
  const dir = path.dirname(file);
  if (!exists(dir)) return `directory ${dir} does not exist`;
  try {
    accessSync(dir, fsc.W_OK);
  } catch {
    return `directory ${dir} is not writable`;
  }
  try {
    if (lstatSync(file).isDirectory()) return `${file} is a directory`;
  } catch {
    // not there yet: fine
  }
  return null;
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}
