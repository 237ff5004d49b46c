// Bad input: one clear line naming the option, the value and what is accepted; exit 2; nothing spawned.
import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BUNDLE, cleanupAll, run } from "../helpers/pidone.js";

afterEach(cleanupAll);

const cases: { name: string; args: string[]; env?: Record<string, string>; says: RegExp }[] = [
  { name: "an unknown flag", args: ["--frobnicate"], says: /unknown option '--frobnicate'/ },
  { name: "a bad duration", args: ["--stop-timeout", "ten"], says: /--stop-timeout: invalid duration 'ten' \(use e\.g\./ },
  { name: "a bad signal", args: ["--restart-signal", "SIGFOO"], says: /--restart-signal: unknown signal 'SIGFOO'/ },
  { name: "a reserved restart signal", args: ["--restart-signal", "TERM"], says: /SIGTERM cannot be the restart signal/ },
  { name: "a bad restart policy", args: ["--restart", "sometimes"], says: /--restart: invalid value 'sometimes' \(use one of: on-failure, always, never\)/ },
  { name: "a bad variable", args: [], env: { PIDONE_STOP_TIMEOUT: "5 parsecs" }, says: /PIDONE_STOP_TIMEOUT: invalid duration '5 parsecs'/ },
  { name: "a bad boolean variable", args: [], env: { PIDONE_SINGLE_CHILD: "maybe" }, says: /PIDONE_SINGLE_CHILD: invalid value 'maybe'/ },
  { name: "a trigger file in a missing directory", args: ["--trigger-file", "/no/such/dir/t"], says: /--trigger-file \/no\/such\/dir\/t: directory \/no\/such\/dir does not exist/ },
  { name: "a missing watch path", args: ["--watch", "/no/such/path"], says: /--watch \/no\/such\/path: no such file or directory/ },
];

describe("bad options", () => {
  for (const c of cases) {
    it(`rejects ${c.name} with exit 2 before spawning anything`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "pidone-opt-"));
      const marker = path.join(dir, "spawned");
      const r = await run(process.execPath, [BUNDLE, ...c.args, "--", "sh", "-c", `touch ${marker}`], {
        cwd: dir, env: { PIDONE_CONTROL_SOCKET: path.join(dir, "s.sock"), ...c.env },
      });
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^pidone: /);
      expect(lines[0]).toMatch(c.says);
      expect(existsSync(marker)).toBe(false);
    });
  }

  it("rejects a missing command with exit 2", async () => {
    const r = await run(process.execPath, [BUNDLE, "--"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("pidone: no command given (usage: pidone [options] -- <command> [args...])");
  });

  it("a flag wins over its variable", async () => {
    const r = await run(process.execPath, [BUNDLE, "--restart", "never", "--no-control-socket", "--no-trigger-file", "--", "sh", "-c", "exit 4"], {
      env: { PIDONE_RESTART: "sometimes" },
    });
    expect(r.code, r.stderr).toBe(4);
  });

  it("prints --help and --version and exits 0", async () => {
    const h = await run(process.execPath, [BUNDLE, "--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("--stop-timeout <duration>");
    expect(h.stdout).toContain("PIDONE_STOP_TIMEOUT");
    const v = await run(process.execPath, [BUNDLE, "--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
