// preflight(): what the user asked for and cannot have is a ConfigError before any side effect;
// a default that cannot work is turned off with a warning.
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { normalizeConfig, type RawOptions } from "../../src/cli/config.js";
import { ConfigError } from "../../src/errors.js";
import { preflight } from "../../src/preflight.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), "pidone-preflight-"));
  dirs.push(d);
  return d;
}
const config = (raw: RawOptions, cwd: string, env: NodeJS.ProcessEnv = {}) => normalizeConfig(raw, ["app"], env, cwd);

describe("preflight", () => {
  it("defaults in a usable directory pass, with no warning and no file created", () => {
    const cwd = tmp();
    const plan = preflight(config({ controlSocket: path.join(cwd, "s.sock") }, cwd));
    expect(plan).toEqual({ triggerFile: path.join(cwd, ".restart_trigger"), controlSocket: path.join(cwd, "s.sock"), warnings: [] });
    expect(readdirSync(cwd)).toEqual([]);
  });

  it.each([
    ["--watch missing", (cwd: string) => ({ watch: [path.join(cwd, "nope")] }), /^--watch .*nope: no such file or directory$/],
    ["--trigger-file in a missing directory", (cwd: string) => ({ triggerFile: path.join(cwd, "no/t") }), /^--trigger-file .*: directory .*no does not exist$/],
    ["--control-socket that is a directory", (cwd: string) => ({ controlSocket: cwd }), /^--control-socket .*: .* is a directory$/],
    ["--control-socket naming a regular file", (cwd: string) => {
      writeFileSync(path.join(cwd, "app.py"), "");
      return { controlSocket: path.join(cwd, "app.py") };
    }, /^--control-socket: .*app\.py exists and is a regular file, not a socket; pidone removes only a dead socket/],
    ["--control-socket naming a symlink", (cwd: string) => {
      symlinkSync("/nonexistent", path.join(cwd, "s.sock"));
      return { controlSocket: path.join(cwd, "s.sock") };
    }, /^--control-socket: .*s\.sock exists and is a symbolic link, not a socket/],
  ])("%s -> one-line ConfigError", (_what, raw, message) => {
    const cwd = tmp();
    let err: unknown;
    try {
      preflight(config(raw(cwd), cwd));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("\n");
  });

  it("a default control socket with a file in the way is turned off with a warning, the file kept", () => {
    const cwd = tmp();
    writeFileSync(path.join(cwd, "pidone.sock"), "x");
    const c = normalizeConfig({}, ["app"], {}, cwd, () => path.join(cwd, "pidone.sock"));
    expect(preflight(c)).toMatchObject({ controlSocket: null, warnings: [{ event: "control-socket-disabled", path: path.join(cwd, "pidone.sock") }] });
    expect(readdirSync(cwd)).toEqual(["pidone.sock"]);
  });

  it("a default control socket path over 107 bytes (a long $XDG_RUNTIME_DIR) is turned off with a warning", () => {
    const cwd = tmp();
    const long = path.join(cwd, "x".repeat(110), "pidone.sock");
    const c = normalizeConfig({}, ["app"], {}, cwd, () => long);
    expect(preflight(c)).toMatchObject({ controlSocket: null, warnings: [{ event: "control-socket-disabled", path: long, reason: "socket path is longer than 107 bytes" }] });
  });

  it("the default control socket passes before its private directory exists (the control server creates it 0700)", () => {
    const cwd = tmp();
    const c = normalizeConfig({}, ["app"], {}, cwd, () => path.join(cwd, "pidone-0/pidone.sock"));
    expect(preflight(c)).toMatchObject({ controlSocket: path.join(cwd, "pidone-0/pidone.sock"), warnings: [] });
  });

  it("a default trigger file whose directory is gone is turned off with a warning, not an error", () => {
    const cwd = tmp();
    const plan = preflight(config({ controlSocket: path.join(cwd, "s.sock") }, path.join(cwd, "missing")));
    expect(plan.triggerFile).toBeNull();
    expect(plan.controlSocket).toBe(path.join(cwd, "s.sock"));
    expect(plan.warnings).toEqual([{ event: "trigger-file-disabled", path: path.join(cwd, "missing/.restart_trigger"), reason: `directory ${path.join(cwd, "missing")} does not exist` }]);
  });
});
