import { defineConfig } from 'vitest/config';

// The suite shares one local stack (or the Supabase project named by
// SUPABASE_URL), so files run one after another in one fork each.
export default defineConfig({
  test: {
    include: ['tests/e2e/**/*.test.ts'],
    globalSetup: ['tests/e2e/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
