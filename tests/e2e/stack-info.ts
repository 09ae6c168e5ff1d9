/** Where the end-to-end suite finds its backend, provided by the global setup. */
export interface StackInfo {
  apiUrl: string;
  anonKey: string;
  serviceRoleKey: string;
  /** PostgreSQL URL with a superuser, for checks no client may make. */
  dbUrl: string;
  /** Control server of the local stack, or null against an external stack. */
  controlUrl: string | null;
  /** Data folder of the local stack (with its keys.json), or null against an external stack. */
  stackDir: string | null;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}
