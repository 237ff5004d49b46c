// The app gets its argv as given (no shell), pidone's env and cwd, and its output reaches the
// container log byte for byte without passing through pidone.
import { afterEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { FIXTURES, cleanupAll, runPidone } from "../helpers/pidone.js";

afterEach(cleanupAll);
const quiet = ["--restart", "never", "--log-level", "silent"];

describe("passthrough", () => {
  it("passes argv untouched: spaces, quotes, $, globs, unicode, empty and flag-like arguments", async () => {
    const args = ["a b", "'single'", '"double"', "$HOME", "$(id)", "*", "ünïcødé ✓ 日本", "", "--flag", "-x", "line\nbreak", "\\back"];
    const { exit, p } = await runPidone({ args: [...quiet, "--", process.execPath, path.join(FIXTURES, "argv.js"), ...args] });
    expect(exit.code, p.output()).toBe(0);
    expect(JSON.parse(p.stdout.toString("utf8"))).toEqual(args);
  });

  it("passes 10 MB of binary stdout byte for byte", async () => {
    const data = randomBytes(10 * 1024 * 1024);
    const dir = mkdtempSync(path.join(tmpdir(), "pidone-bytes-"));
    writeFileSync(path.join(dir, "data.bin"), data);
    const r = await runPidone({ args: [...quiet, "--", "cat", "data.bin"], cwd: dir }, 30_000);
    expect(r.exit.code, r.p.stderr).toBe(0);
    expect(r.p.stdout.length).toBe(data.length);
    expect(r.p.stdout.equals(data)).toBe(true);
  });

  it("inherits env and cwd", async () => {
    const { exit, p } = await runPidone({ args: [...quiet, "--", "sh", "-c", 'printf "%s|%s" "$APP_SETTING" "$(pwd)"'], env: { APP_SETTING: "x y $z" } });
    expect(exit.code).toBe(0);
    expect(p.stdout.toString()).toBe(`x y $z|${p.dir}`);
  });
});
