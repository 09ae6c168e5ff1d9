/**
 * The structured logger of the Edge Functions: pino, one JSON line per
 * event. Lines go through `console.log`, which Supabase's Edge Runtime
 * records as the function's logs. Entries carry request ids, user ids,
 * statuses and error codes, and never a token, key or request body.
 */
// NOTE: pino calls os.hostname() when it loads, so plain Deno needs
// --allow-sys=hostname. These functions have not run on Supabase's hosted
// Edge Runtime here; a failure there would show at the first import.
import pino from "npm:pino@10.4.0";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function readLogLevel(): string {
  const level = Deno.env.get("LOG_LEVEL")?.toLowerCase() ?? "info";
  return LOG_LEVELS.includes(level) ? level : "info";
}

export const logger = pino(
  {
    level: readLogLevel(),
    base: { service: "edge-functions" },
    redact: {
      paths: ["authorization", "token", "*.authorization", "*.token"],
      censor: "[redacted]",
    },
  },
  {
    write(line: string) {
      console.log(line.trimEnd());
    },
  },
);

export type Logger = typeof logger;
