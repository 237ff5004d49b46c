// The exec shim's name on the command line, apart from the shim itself: main.ts checks argv for
// it before anything else loads, and exec-shim.ts (loaded only on the shim's path) puts it there.

/** The first argument that makes the bundle act as the exec shim (--listen, a terminal). */
export const EXEC_SHIM_ARG = "__exec-shim";
