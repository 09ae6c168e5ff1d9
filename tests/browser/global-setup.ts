/**
 * Starts the backend and the web demo for the browser suite: the local stack
 * on a free port, or the Supabase stack named by SUPABASE_URL and
 * SUPABASE_ANON_KEY, with the demo served on another free port.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import { serveWebDemo } from '../../apps/web-demo/server/index.ts';

/** What the test files get from the global setup. */
export interface DemoInfo {
  /** Address of the demo page, ending with `/`. */
  demoUrl: string;
  apiUrl: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    demo: DemoInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.SUPABASE_URL;
  if (external !== undefined && external !== '') {
    const anonKey = process.env.SUPABASE_ANON_KEY;
    if (anonKey === undefined || anonKey === '') {
      throw new Error('SUPABASE_ANON_KEY is missing: with SUPABASE_URL set, the browser suite also needs the anon key');
    }
    const demo = await serveWebDemo({ apiUrl: external, anonKey, port: 0 });
    project.provide('demo', { demoUrl: demo.url, apiUrl: external });
    return () => demo.close();
  }

  const { startStack } = await import('../../packages/local-stack/src/index.ts');
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-browser-'));
  // The tests run as root; PostgreSQL runs as its own user, which must be able to enter this folder.
  await chmod(dataDir, 0o755);
  const stack = await startStack({ dataDir, port: 0, logLevel: process.env.LOG_LEVEL ?? 'warn' });

  let demo;
  try {
    demo = await serveWebDemo({ apiUrl: stack.apiUrl, anonKey: stack.anonKey, port: 0 });
  } catch (error) {
    await stack.stop();
    throw error;
  }
  project.provide('demo', { demoUrl: demo.url, apiUrl: stack.apiUrl });

  return async () => {
    await demo.close();
    await stack.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
