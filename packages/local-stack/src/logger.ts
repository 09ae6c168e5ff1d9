import pino, { type Logger } from 'pino';

/** Paths that may carry a secret; pino replaces their values with "[redacted]". */
const REDACTED_PATHS = [
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'apikey',
  'authorization',
  'privateKey',
  'superuserUrl',
  'databaseUrl',
  '*.password',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.apikey',
  '*.authorization',
  'headers.authorization',
  'headers.apikey',
  'req.headers.authorization',
  'req.headers.apikey',
];

/**
 * Creates the stack's logger. Logs go to stderr so that the status block printed on stdout stays
 * readable; the level comes from the argument, then `LOG_LEVEL`, then "info".
 */
export function createLogger(level?: string, name = 'local-stack'): Logger {
  return pino(
    {
      name,
      level: level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** Replaces the password in a PostgreSQL URL so the URL can be logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = 'redacted';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
