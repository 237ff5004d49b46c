// The path mapping of the app's output on the laptop: whole tokens under REMOTE_DIR become the
// same path under LOCAL_DIR as typed; nothing else changes.
import { describe, expect, it } from "vitest";
import { pathMapper } from "../../src/sync/path-map.js";

describe("pathMapper", () => {
  const map = pathMapper(["/app"], "local");

  it("maps a Python traceback's file to LOCAL_DIR as typed", () => {
    expect(map('  File "/app/app.py", line 12, in <module>\n')).toBe('  File "local/app.py", line 12, in <module>\n');
    expect(pathMapper(["/app/"], "./src/")('File "/app/pkg/mod.py", line 3')).toBe('File "./src/pkg/mod.py", line 3');
  });

  it("keeps a :line:col suffix after the mapped path and maps every token of a line", () => {
    expect(map("at Object.<anonymous> (/app/server.js:4:9) and /app/lib/x.js:1")).toBe("at Object.<anonymous> (local/server.js:4:9) and local/lib/x.js:1");
  });

  it("leaves alone what only looks like REMOTE_DIR: another name, a deeper directory, the bare dir", () => {
    for (const s of ["/app2/x.py", "/apps/x", "/srv/app/x.py", "x/app/y", "file:///app", "/app", "~/app/x", "a-/app/x"]) expect(map(s)).toBe(s);
  });

  it("maps after quotes, brackets, '=' and ':' (a token's start), and the longest REMOTE_DIR first", () => {
    expect(map("path=/app/a.py,'/app/b.py' [/app/c] :/app/d")).toBe("path=local/a.py,'local/b.py' [local/c] :local/d");
    expect(pathMapper(["/app", "/app/sub"], "here")("/app/sub/x /app/y")).toBe("here/x here/y");
  });

  it("maps the container's real path too when REMOTE_DIR is a link to it", () => {
    const m = pathMapper(["/app", "/srv/real-app"], "local");
    expect(m('File "/srv/real-app/a.py"; /app/b.py')).toBe('File "local/a.py"; local/b.py');
  });

  it("uses a Windows LOCAL_DIR's separator", () => {
    expect(pathMapper(["/app"], "C:\\work\\site")('File "/app/pkg/a.py"')).toBe('File "C:\\work\\site\\pkg\\a.py"');
  });

  it("maps nothing for a REMOTE_DIR of / or a relative one", () => {
    expect(pathMapper(["/"], "local")("/etc/passwd")).toBe("/etc/passwd");
    expect(pathMapper(["app"], "local")("app/x /app/x")).toBe("app/x /app/x");
  });
});
