/**
 * Logging seam of the chat layer. A pino logger fits it as is; the default
 * logs nothing, because a library should not write to the console uninvited.
 */

/** Log function with pino's argument order: structured fields first, then the message. */
export type LogFunction = (fields: Record<string, unknown>, message: string) => void;

/**
 * Logger the chat layer writes to. Every call passes structured fields
 * (profile, topic ids, attempt counts) and never a key, token or plaintext.
 */
export interface ChatLogger {
  debug: LogFunction;
  info: LogFunction;
  warn: LogFunction;
  error: LogFunction;
}

const ignore: LogFunction = () => {};

/** Logger that discards everything. */
export const silentLogger: ChatLogger = Object.freeze({ debug: ignore, info: ignore, warn: ignore, error: ignore });

/** Returns the fields worth logging from a thrown value: its name, message and code, never its whole object. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const status = (error as { status?: unknown }).status;
    return {
      err: {
        name: error.name,
        message: error.message,
        ...(code === undefined ? {} : { code }),
        ...(status === undefined ? {} : { status }),
      },
    };
  }
  return { err: { message: String(error) } };
}
