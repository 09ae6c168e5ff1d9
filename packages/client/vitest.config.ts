import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Property tests run many ML-KEM and ratchet operations on a shared 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
