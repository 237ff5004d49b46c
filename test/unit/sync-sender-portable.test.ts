// The sender runs on macOS and Windows laptops: its import graph must hold nothing Linux-only
// (src/sys/* and koffi, src/child/*, the supervisor's runner). Bundled with esbuild's metafile,
// which lists every module the entry pulls in.
import { describe, expect, it } from "vitest";
import { build } from "esbuild";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const FORBIDDEN = [/^src\/sys\//, /^src\/child\//, /^src\/supervisor\/runner/, /^src\/supervise/, /koffi/, /^src\/preflight/];

async function inputsOf(entry: string): Promise<string[]> {
  const r = await build({
    entryPoints: [path.join(ROOT, entry)],
    bundle: true,
    platform: "node",
    format: "cjs",
    write: false,
    metafile: true,
    logLevel: "silent",
    absWorkingDir: ROOT,
    // As in scripts/build.mjs: the preload zygote's Python source is a text module.
    loader: { ".py": "text" },
    // koffi would be external in the real build: keep it visible as an import instead.
    external: [],
  });
  const meta = r.metafile as { inputs: Record<string, { imports: { path: string; external?: boolean }[] }> };
  const all = new Set(Object.keys(meta.inputs));
  for (const i of Object.values(meta.inputs)) for (const imp of i.imports) all.add(imp.path);
  return [...all];
}

describe("the sender's import graph is portable", () => {
  it.each(["src/sync/sender.ts", "src/sync/run-sync.ts"])("%s imports no src/sys, src/child, supervisor runner or koffi", async (entry) => {
    const inputs = await inputsOf(entry);
    expect(inputs).toContain("src/sync/protocol.ts");
    expect(inputs.some((i) => i.includes("chokidar"))).toBe(true);
    const bad = inputs.filter((i) => FORBIDDEN.some((re) => re.test(i)));
    expect(bad).toEqual([]);
  });

  it("the session's states and transitions (session-state.ts) pull in no module at all: types only", async () => {
    expect(await inputsOf("src/sync/session-state.ts")).toEqual(["src/sync/session-state.ts"]);
  });

  it("the check itself sees Linux-only modules where they are (supervise.ts pulls in src/sys)", async () => {
    const inputs = await inputsOf("src/supervise.ts");
    expect(inputs.some((i) => /^src\/sys\//.test(i))).toBe(true);
  });
});
