// Stands in for node:child_process in commander (scripts/build.mjs), which requires it when it
// loads, for executable subcommands (`git-style` commands), of which pidone has none. Loading it
// costs milliseconds before the app's spawn, which pidone makes without it
// (src/sys/process-wrap.ts); here it loads on first use, if ever.
let real;
module.exports = new Proxy({}, {
  get(_, key) {
    real ??= require("node:child_process");
    return real[key];
  },
});
