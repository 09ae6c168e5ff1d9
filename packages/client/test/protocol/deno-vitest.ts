/**
 * The part of the vitest API that the protocol tests use, on `Deno.test`
 * and Jest's `expect`, so the same test files run under Deno. deno.json
 * maps the `vitest` import here; Node runs the real vitest.
 */
import { expect as jestExpect } from 'expect';

declare const Deno: {
  test(definition: { name: string; fn: () => unknown; sanitizeOps?: boolean; sanitizeResources?: boolean }): void;
};

type Callback = () => unknown;

const prefixes: string[] = [];

export function describe(name: string, body: () => void): void {
  prefixes.push(name);
  try {
    body();
  } finally {
    prefixes.pop();
  }
}

describe.each = <T extends unknown[]>(cases: T[]) => (name: string, body: (...args: T) => void) => {
  for (const row of cases) {
    describe(name.replace('%s', String(row[0])), () => body(...row));
  }
};

export function it(name: string, fn: Callback): void {
  const fullName = [...prefixes, name].join(' > ');
  const hooks = { before: [...beforeEachHooks], after: [...afterEachHooks] };
  Deno.test({
    name: fullName,
    // fast-check and the crypto module keep no timers or resources open between tests.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      for (const hook of hooks.before) {
        await hook();
      }
      try {
        await fn();
      } finally {
        for (const hook of hooks.after) {
          await hook();
        }
      }
    },
  });
}

export const test = it;

const beforeEachHooks: Callback[] = [];
const afterEachHooks: Callback[] = [];

export function beforeEach(hook: Callback): void {
  beforeEachHooks.push(hook);
}

export function afterEach(hook: Callback): void {
  afterEachHooks.push(hook);
}

/** vitest's `expect(value, message)`: Jest's expect takes one argument, so the message is dropped. */
function expectWithMessage(actual: unknown, _message?: string) {
  return jestExpect(actual);
}

export const expect = Object.assign(expectWithMessage, jestExpect, {
  unreachable(message = 'expected this line not to be reached'): never {
    throw new Error(message);
  },
});
