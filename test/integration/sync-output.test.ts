// "Save, see what the new code did", as PID 1 with real processes: a Python app edited through
// `pidone sync` (local transport). A syntax error, an import error and an exception at import,
// saved one after the other, more of them than --max-restarts: pidone stays up and never backs
// off or gives up; each error's text and its file, as the LOCAL path, reach sync's output; the fix
// serves and its own print reaches sync's output. Cold, warm (--preload) and --overlap (the old pid
// serves through every broken save, then the fix hands over).
import { afterEach, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { BUNDLE, cleanupAll, run, startPidone, type Pidone } from "../helpers/pidone.js";
import { cleanEnv, cleanupSyncs, localVia, startSync, type SyncProc } from "../helpers/sync.js";
import { freePort, httpGet } from "../helpers/http.js";

const dirs: string[] = [];
afterEach(async () => {
  await cleanupSyncs();
  await cleanupAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const MAX_RESTARTS = 2;

/** The app: an HTTP server on the socket pidone hands it (fd 3) that prints its tag once it serves. */
const GOOD = (tag: string) => `import os, socket
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"${tag} {os.getpid()}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
server.socket = socket.socket(fileno=3)
print(f"PRINT-${tag} {os.getpid()}", flush=True)
server.serve_forever()
`;

/** Three mistakes a developer saves, each with the text its traceback must show. */
const BROKEN: [what: string, code: string, shows: RegExp][] = [
  ["a syntax error", "import os\ndef broken(:\n    pass\n", /SyntaxError/],
  ["an import error", "import os\nimport no_such_module_pidone_test\n", /ModuleNotFoundError: No module named 'no_such_module_pidone_test'/],
  ["an exception at import", "import os\n\nraise RuntimeError('BOOM-AT-IMPORT')\n", /RuntimeError: BOOM-AT-IMPORT/],
];

type Mode = { name: string; args: string[]; broken: "crashed" | "kept"; fixed: "up" | "ready" };
const MODES: Mode[] = [
  { name: "cold", args: [], broken: "crashed", fixed: "up" },
  // Debug logs name each process the zygote forked (preload-forked): the fix must be one.
  { name: "warm (--preload)", args: ["--preload", "http.server,socket", "--log-level", "debug"], broken: "crashed", fixed: "up" },
  { name: "--overlap", args: ["--overlap"], broken: "kept", fixed: "ready" },
];

async function setUp(mode: Mode) {
  const base = mkdtempSync(path.join(tmpdir(), "pidone-sync-output-"));
  dirs.push(base);
  const local = path.join(base, "local");
  const remote = path.join(base, "remote");
  mkdirSync(local);
  mkdirSync(remote);
  for (const d of [local, remote]) writeFileSync(path.join(d, "app.py"), GOOD("v0"));
  const port = await freePort();
  const p = startPidone({
    args: ["--max-restarts", String(MAX_RESTARTS), "--listen", `127.0.0.1:${port}`, ...mode.args, "--", "python3", path.join(remote, "app.py")],
    cwd: remote,
  });
  await p.waitForStdout(/PRINT-v0 \d+/, 30_000);
  await p.waitForEvent("ready", () => true, 30_000);
  return { p, port, local, remote };
}

/** Everything the app printed that sync showed after batch `id`: its output and a crash's tail. */
const appText = (s: SyncProc, id: number) =>
  [...s.all("output").filter((e) => e.id === id).map((e) => String(e.text)), ...s.all("restart").filter((e) => e.id === id).map((e) => String(e.tail ?? ""))].join("");

/** Save `code` as app.py in LOCAL_DIR and wait for its batch's report. */
async function save(s: SyncProc, local: string, code: string) {
  const n = s.all("synced").length + 1;
  writeFileSync(path.join(local, "app.py"), code);
  return (await s.waitFor("synced", n, 30_000)) as unknown as { id: number; restart: Record<string, unknown> };
}

const servedBy = async (port: number) => (await httpGet(port, "/", 5000)).body;

describe("pidone sync shows what the new code did", () => {
  it.each(MODES.map((m) => [m.name, m] as const))("%s: three broken saves (more than --max-restarts) show their tracebacks with the LOCAL path; pidone stays up; the fix's print shows", async (_name, mode) => {
    const { p, port, local, remote } = await setUp(mode);
    const before = await servedBy(port);
    const s = startSync([local, remote, ...localVia(p.socket)]);
    await s.waitFor("in-sync", 1, 30_000);

    for (const [what, code, shows] of BROKEN) {
      const b = await save(s, local, code);
      const r = b.restart;
      // The crash is in the report when the app dies within the up-window, else a crashed notice
      // follows (Python slow to start on a loaded machine); either way its output reaches sync.
      if (mode.broken === "kept") expect(r, `${what}\n${s.stdout}\n${p.output()}`).toMatchObject({ kind: "kept", status: "exit 1" });
      else if (r.kind !== "crashed") await s.until(() => s.all("crashed").find((e) => e.id === b.id), `${what}: a crashed notice for batch ${b.id}`, 30_000);
      else expect(r).toMatchObject({ status: "exit 1" });
      const text = await s.until(() => {
        const t = appText(s, b.id);
        return shows.test(t) && t.includes(`${local}/app.py", line`) ? t : undefined;
      }, `${what}: its traceback with the local path in sync's output (so far: ${JSON.stringify(appText(s, b.id))})`, 30_000);
      expect(text).not.toContain(`${remote}/app.py`);
      expect(p.exit, p.output()).toBeNull();
      // --overlap: the old generation serves on through every broken save.
      if (mode.broken === "kept") expect(await servedBy(port)).toBe(before);
    }
    expect(p.all("gave-up")).toEqual([]);
    expect(p.all("backoff")).toEqual([]);
    if (mode.broken === "crashed") expect(p.all("app-crashed-after-change").length).toBe(BROKEN.length);

    const fixed = await save(s, local, GOOD("v1"));
    expect(fixed.restart, `${s.stdout}\n${p.output()}`).toMatchObject({ kind: mode.fixed });
    const printed = await s.until(() => /PRINT-v1 (\d+)/.exec(appText(s, fixed.id)), "the fix's own print in sync's output", 30_000);
    expect(await servedBy(port)).toBe(`v1 ${printed[1]}`);
    if (mode.args.includes("--preload")) expect(p.all("preload-forked").map((e) => e.pid), p.output()).toContain(Number(printed[1]));
    expect(s.exit).toBeNull();
  }, 180_000);

  it("the human form: the report line, then the traceback behind the gutter with the LOCAL path as typed", async () => {
    const mode = MODES[0] as Mode;
    const { p, local, remote } = await setUp(mode);
    writeFileSync(path.join(local, "app.py"), (BROKEN[2] as [string, string, RegExp])[1]);
    const typed = path.relative(process.cwd(), local);
    const r = await run(process.execPath, [BUNDLE, "sync", "--once", typed, remote, ...localVia(p.socket)], { env: cleanEnv() as Record<string, string>, timeoutMs: 30_000 });
    // A crash within the up-window is in the report (exit 1); a slower one is "up" (exit 0).
    const lines = r.stdout.split("\n");
    const report = lines.findIndex((l) => /^pidone sync: synced 1 file/.test(l));
    expect(report, r.stdout + r.stderr).toBeGreaterThanOrEqual(0);
    if (r.code === 1) {
      expect(lines[report]).toMatch(/; restarted pid \d+ -> \d+ in \d+ ms; the new code exited 1 after \d+ ms: fix and save, pidone waits for the next change$/);
      const gutter = lines.slice(report + 1).filter((l) => l.startsWith("│ "));
      expect(gutter.join("\n"), r.stdout).toContain(`│   File "${typed}/app.py", line 3, in <module>`);
      expect(gutter.join("\n")).toContain("│ RuntimeError: BOOM-AT-IMPORT");
      expect(gutter.join("\n")).not.toContain(remote);
    } else {
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    await p.waitForEvent("app-crashed-after-change", () => true, 30_000);
  }, 60_000);
});
