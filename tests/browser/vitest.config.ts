import { defineConfig } from 'vitest/config';

// One local stack and one demo server for the suite; each file drives its
// own Chromium, so files run one after another.
export default defineConfig({
  test: {
    include: ['tests/browser/**/*.test.ts'],
    globalSetup: ['tests/browser/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
