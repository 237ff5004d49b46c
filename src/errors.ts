// What every layer may throw upward. main.ts turns a ConfigError into one line and exit 2; a
// BindError is a failed socket syscall whose errno the caller words for its option
// (cli/listen-address.ts, describeBindError). Imports nothing.

/** A bad command line or environment. main prints the message and exits 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** A socket syscall failed (socket, bind, listen, setsockopt...): `code` is the errno name. */
export class BindError extends Error {
  override name = "BindError";
  constructor(readonly code: string, readonly syscall: string, message = `${syscall}: ${code}`) {
    super(message);
  }
}
