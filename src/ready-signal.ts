// How --overlap knows that the next generation is ready to take over: judged once by
// cli/config.ts, acted on by child/handoff/ (the probes) through supervisor/runner.ts. Not to be
// confused with the --ready-tcp/--ready-http checks of /readyz and `pidone restart` (readiness.ts).
// Imports nothing.

/** The signal the next generation gives when it is ready. */
export type ReadySignal =
  /** It sends READY=1 to the NOTIFY_SOCKET pidone gives it (sd_notify). */
  | { kind: "notify" }
  /** A GET of `path` through the held socket, routed to it alone, answers 2xx/3xx. */
  | { kind: "http"; path: string; host: string }
  /** It accepts a connection pidone routes to it alone (--ready-tcp, or nothing configured). */
  | { kind: "accept" };
