// A laptop that stops reading must not cost the container: as PID 1, an app floods its output
// (128 MiB) while the `pidone sync` that follows it is stopped (SIGSTOP). The app is never held
// up, the receiver's memory stays bounded (it drops what the transport cannot take), and once
// the sender reads again it shows a few skipped markers (not one per chunk) and then the app's later output.
import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { cleanupAll, startPidone } from "../helpers/pidone.js";
import { cleanupSyncs, localVia, startSync } from "../helpers/sync.js";

const dirs: string[] = [];
afterEach(async () => {
  await cleanupSyncs();
  await cleanupAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const FLOOD_MIB = 128;
const IDLE = `console.log("v0 READY"); setInterval(() => {}, 1 << 30);\n`;
/** Waits for the file "go", writes FLOOD_MIB MiB (as fast as its stdout takes it), then the file
 *  "done"; once "again" exists it prints AFTER-GAP. */
const FLOOD = `"use strict";
const fs = require("node:fs");
const line = "x".repeat(65535) + "\\n";
const when = (f, then) => { const t = setInterval(() => { if (fs.existsSync(f)) { clearInterval(t); then(); } }, 20); };
when("go", () => {
  let left = ${FLOOD_MIB} * 16;
  const more = () => {
    while (left > 0) {
      left--;
      if (!process.stdout.write(line)) return process.stdout.once("drain", more);
    }
    fs.writeFileSync("done", "");
    when("again", () => console.log("AFTER-GAP"));
  };
  more();
});
setInterval(() => {}, 1 << 30);
`;

/** The receiver's pid: the `pidone receive` serving REMOTE_DIR `remote`. */
function receiverPid(remote: string): number | undefined {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      if (argv.includes("receive") && argv.includes(remote)) return Number(name);
    } catch {
      // gone
    }
  }
  return undefined;
}

const rssMiB = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024;

describe("pidone sync's output stream against a stopped laptop", () => {
  it(`${FLOOD_MIB} MiB of output while the sender is stopped: the app finishes, the receiver stays small, a few skipped markers, then the app's output again`, async () => {
    const base = mkdtempSync(path.join(tmpdir(), "pidone-sync-slow-"));
    dirs.push(base);
    const local = path.join(base, "local");
    const remote = path.join(base, "remote");
    mkdirSync(local);
    mkdirSync(remote);
    for (const d of [local, remote]) writeFileSync(path.join(d, "app.js"), IDLE);
    // pidone's own stdout (where it forwards the app's) goes to /dev/null: not a terminal, so the
    // capture runs, and the test does not keep the flood.
    const p = startPidone({ args: ["--", process.execPath, path.join(remote, "app.js")], cwd: remote, wrap: ["sh", "-c", 'exec "$@" >/dev/null', "sh"] });
    await p.waitForEvent("ready", () => true, 30_000);
    const s = startSync([local, remote, ...localVia(p.socket)]);
    await s.waitFor("in-sync", 1, 30_000);
    writeFileSync(path.join(local, "app.js"), FLOOD);
    const b = await s.waitFor("synced", 1, 30_000);
    expect(b.restart, p.output()).toMatchObject({ kind: "up" });
    const receiver = receiverPid(remote);
    expect(receiver, "the receiver's pid").toBeDefined();

    s.proc.kill("SIGSTOP");
    try {
      writeFileSync(path.join(remote, "go"), "");
      // The app is never held up by the stopped laptop: it writes all of it.
      await p.until(() => existsSync(path.join(remote, "done")), `the app to write ${FLOOD_MIB} MiB`, 120_000, 50);
      // Unbounded, the receiver would hold the flood (over 128 MiB); bounded, about 1 MiB of it.
      expect(rssMiB(receiver as number)).toBeLessThan(110);
    } finally {
      s.proc.kill("SIGCONT");
    }
    // Every byte is accounted for: shown, or in a skipped marker.
    const flood = FLOOD_MIB * 1024 * 1024;
    const skippedBytes = () => s.all("output-skipped").reduce((n, e) => n + (e.bytes as number), 0);
    const shownBytes = () => s.all("output").reduce((n, e) => n + Buffer.byteLength(String(e.text)), 0);
    await s.until(() => skippedBytes() + shownBytes() >= flood || undefined, `all ${flood} bytes shown or skipped (so far ${skippedBytes()} + ${shownBytes()})`, 30_000, 50);
    // A partial line shown before a marker gets its own line end: a few bytes over at most.
    expect(skippedBytes() + shownBytes()).toBeLessThan(flood + 64);
    // The stop is a few markers, not one per chunk: the transport's own buffer may take a marker
    // before the stop is over (seen: 9 MiB, then the other 121 MiB), so their number is bounded,
    // not exactly one; together they hold nearly all of the flood.
    const markers = s.all("output-skipped");
    expect(markers.length, JSON.stringify(markers)).toBeLessThanOrEqual(16);
    expect(markers.every((e) => e.id === b.id), JSON.stringify(markers)).toBe(true);
    expect(skippedBytes(), JSON.stringify(markers)).toBeGreaterThan(flood - 8 * 1024 * 1024);
    expect(shownBytes()).toBeLessThan(8 * 1024 * 1024);
    writeFileSync(path.join(remote, "again"), "");
    await s.until(() => s.all("output").find((e) => String(e.text).includes("AFTER-GAP")), "the app's output after the gap", 30_000);
    expect(p.exit).toBeNull();
  }, 240_000);
});
