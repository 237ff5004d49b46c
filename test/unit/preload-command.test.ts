// The app's command read as CPython reads its own command line: interpreter options, then
// -m/-c/a script, then the app's arguments; console scripts through their #! line. And the
// guard that refuses to preload the app's own code.
import { afterAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parsePythonArgs, resolvePythonCommand } from "../../src/preload/command.js";
import { ownCode } from "../../src/preload/own-code.js";
import { normalizeConfig } from "../../src/cli/config.js";
import { ConfigError } from "../../src/errors.js";

function refused(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain("\n");
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("parsePythonArgs", () => {
  it.each([
    [["-m", "flask", "--app", "x", "run"], [], { kind: "module", name: "flask" }, ["--app", "x", "run"]],
    [["-u", "-B", "-mflask", "run"], ["-u", "-B"], { kind: "module", name: "flask" }, ["run"]],
    [["-uBm", "flask", "run"], ["-uB"], { kind: "module", name: "flask" }, ["run"]],
    [["-X", "dev", "-Wignore", "app.py", "-m", "x"], ["-X", "dev", "-Wignore"], { kind: "script", path: "app.py" }, ["-m", "x"]],
    [["-c", "print(1)", "a", "-b"], [], { kind: "code", code: "print(1)" }, ["a", "-b"]],
    [["-uc", "print(1)"], ["-u"], { kind: "code", code: "print(1)" }, []],
    [["--check-hash-based-pycs", "never", "--", "-odd.py", "x"], ["--check-hash-based-pycs", "never"], { kind: "script", path: "-odd.py" }, ["x"]],
  ])("%j", (argv, options, run, args) => {
    const c = parsePythonArgs("python3", argv);
    expect(c.options).toEqual(options);
    expect(c.run).toEqual(run);
    expect(c.args).toEqual(args);
    expect(c.origArgv).toEqual(["python3", ...argv]);
  });

  it.each([
    [[], /interactive/],
    [["-u"], /interactive/],
    [["-i", "app.py"], /-i/],
    [["-"], /stdin/],
    [["-m"], /-m needs a value/],
    [["--version"], /unsupported interpreter option --version/],
    [["-Z", "app.py"], /unknown interpreter option -Z/],
  ])("refuses %j", (argv, re) => {
    expect(refused(() => parsePythonArgs("python3", argv))).toMatch(re);
  });
});

describe("resolvePythonCommand", () => {
  // Real executables in a temp dir: the PATH search is execvp's (executable regular files only).
  const dir = mkdtempSync(path.join(tmpdir(), "pidone-shebang-"));
  const script = (name: string, first: string) => {
    writeFileSync(path.join(dir, name), `${first}\nprint("hi")\n`, { mode: 0o755 });
    return path.join(dir, name);
  };
  const tool = script("tool", "#!/usr/bin/env python3");
  const opt = script("opt", "#!/usr/bin/python3 -sE");
  script("shell", "#!/bin/sh");
  writeFileSync(path.join(dir, "flask"), "#!/usr/bin/python3\n", { mode: 0o644 }); // not executable: skipped
  const flask = path.join(dir, "bin", "flask");
  mkdirSync(path.dirname(flask));
  writeFileSync(flask, "#!/usr/bin/python3\nimport sys\n", { mode: 0o755 });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("takes python3 itself as the interpreter", () => {
    expect(resolvePythonCommand("python3", ["-m", "x"], "/usr/bin").interpreter).toBe("python3");
    expect(resolvePythonCommand("/usr/bin/python3.11", ["a.py"], "/usr/bin").run).toEqual({ kind: "script", path: "a.py" });
  });

  it("runs a console script through the interpreter of its #! line, with the path execvp finds", () => {
    const c = resolvePythonCommand("flask", ["run"], `/nonexistent:${dir}:${path.dirname(flask)}`);
    expect(c).toMatchObject({ interpreter: "/usr/bin/python3", options: [], run: { kind: "script", path: flask }, args: ["run"] });
    expect(c.origArgv).toEqual(["/usr/bin/python3", flask, "run"]);
  });

  it("follows /usr/bin/env and passes #! options as the kernel does (one argument)", () => {
    expect(resolvePythonCommand("tool", [], dir)).toMatchObject({ interpreter: "python3", run: { kind: "script", path: tool } });
    expect(resolvePythonCommand(opt, ["x"], "")).toMatchObject({ interpreter: "/usr/bin/python3", options: ["-sE"], args: ["x"] });
  });

  it("refuses what no Python interpreter runs", () => {
    expect(refused(() => resolvePythonCommand("sh", ["-c", "true"], "/bin"))).toMatch(/'sh' is not a Python interpreter/);
    expect(refused(() => resolvePythonCommand("shell", [], dir))).toMatch(/'shell' is not a Python interpreter/);
    expect(refused(() => resolvePythonCommand("no-such-command", [], "/nonexistent"))).toMatch(/--preload: no-such-command: command not found/);
  });
});

describe("ownCode", () => {
  it("finds a module under a guarded directory, but not installed packages or the stdlib there", () => {
    const mods: [string, string][] = [["json", "/usr/lib/python3.11/json/__init__.py"], ["flask", "/srv/app/.venv/lib/python3.11/site-packages/flask/__init__.py"], ["models", "/srv/app/models.py"]];
    expect(ownCode(mods, ["/srv/app"], "/usr/lib/python3.11")).toEqual({ module: "models", file: "/srv/app/models.py", dir: "/srv/app" });
    expect(ownCode(mods.slice(0, 2), ["/srv/app"], "/usr/lib/python3.11")).toBeNull();
    expect(ownCode([["json", "/usr/lib/python3.11/json/__init__.py"]], ["/"], "/usr/lib/python3.11")).toBeNull();
    expect(ownCode([["x", "/srv/application/x.py"]], ["/srv/app"], "/usr/lib/python3.11")).toBeNull();
  });
});

describe("--preload in the config", () => {
  const norm = (raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => normalizeConfig(raw, ["python3", "app.py"], env, "/srv");
  it("takes a comma-separated list from the flag or PIDONE_PRELOAD", () => {
    expect(norm({ preload: "flask, sqlalchemy.orm,flask" }).preload).toEqual(["flask", "sqlalchemy.orm"]);
    expect(norm({}, { PIDONE_PRELOAD: "numpy" }).preload).toEqual(["numpy"]);
    expect(norm({}, { PIDONE_PRELOAD: "off" }).preload).toBeUndefined();
    expect(norm({}).preload).toBeUndefined();
  });
  it("refuses what is not a module name", () => {
    expect(refused(() => norm({ preload: "flask,../app" }))).toMatch(/--preload: '..\/app' is not a Python module name/);
    expect(refused(() => norm({ preload: " , " }))).toMatch(/no module given/);
  });
});
