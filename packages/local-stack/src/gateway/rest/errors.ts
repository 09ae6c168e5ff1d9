/** An error in PostgREST's response shape, with the HTTP status PostgREST would use. */
export class RestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: string | null = null,
    readonly hint: string | null = null,
  ) {
    super(message);
  }

  toBody(): { code: string; details: string | null; hint: string | null; message: string } {
    return { code: this.code, details: this.details, hint: this.hint, message: this.message };
  }
}

/** Creates the error for a malformed query string, header or body: PostgREST's PGRST100, status 400. */
export function parseError(message: string, details: string | null = null): RestError {
  return new RestError(400, 'PGRST100', message, details);
}

/** Fields of a PostgreSQL error as postgres.js exposes them. */
export interface DatabaseError {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

export function isDatabaseError(error: unknown): error is DatabaseError {
  return (
    error instanceof Error &&
    typeof (error as Partial<DatabaseError>).code === 'string' &&
    /^[0-9A-Z]{5}$/.test((error as unknown as DatabaseError).code) &&
    error.name === 'PostgresError'
  );
}

/**
 * Maps a SQLSTATE to the HTTP status PostgREST 12 returns for it. `authenticated` decides between
 * 401 and 403 for insufficient privilege, as PostgREST does for anonymous and signed-in callers.
 */
export function statusForSqlState(code: string, authenticated: boolean): number {
  const custom = /^PT(\d{3})$/.exec(code);
  if (custom !== null) {
    const status = Number(custom[1]);
    if (status >= 100 && status <= 599) return status;
  }

  switch (code) {
    case '42501':
      return authenticated ? 403 : 401;
    case '23503':
    case '23505':
      return 409;
    case '25006':
      return 405;
    case '42883':
    case '42P01':
    case 'P0002':
      return 404;
    case 'P0001':
      return 400;
    case '42P17':
    case '53400':
      return 500;
  }

  switch (code.slice(0, 2)) {
    case '08':
    case '53':
      return 503;
    case '0L':
    case '0P':
    case '28':
      return 403;
    case '09':
    case '25':
    case '2D':
    case '38':
    case '39':
    case '3B':
    case '40':
    case '54':
    case '55':
    case '57':
    case '58':
    case 'F0':
    case 'HV':
    case 'P0':
    case 'XX':
      return 500;
    default:
      return 400;
  }
}

/** Converts a PostgreSQL error into PostgREST's error response. */
export function fromDatabaseError(error: DatabaseError, authenticated: boolean): RestError {
  return new RestError(
    statusForSqlState(error.code, authenticated),
    error.code,
    error.message,
    error.detail ?? null,
    error.hint ?? null,
  );
}
