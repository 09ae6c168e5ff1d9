// Types of Jest's `expect` as far as deno-vitest.ts uses it. Deno fetches the
// package through deno.json; Node never loads it, so it is not installed.
declare module 'expect' {
  interface JestExpect {
    (actual: unknown): any;
    [matcher: string]: any;
  }
  export const expect: JestExpect;
}
