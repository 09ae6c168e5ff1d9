/**
 * Starts the backend for the end-to-end suite: the local stack on free
 * ports, or nothing when SUPABASE_URL points at a running Supabase stack.
 *
 * Test files run in other processes, so a small control server on
 * 127.0.0.1 lets them restart the local stack's gateway.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import type { StackInfo } from './stack-info.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.SUPABASE_URL;
  if (external !== undefined && external !== '') {
    const info: StackInfo = {
      apiUrl: external,
      anonKey: requireEnv('SUPABASE_ANON_KEY'),
      serviceRoleKey: requireEnv('SUPABASE_SERVICE_ROLE_KEY'),
      dbUrl: requireEnv('SUPABASE_DB_URL'),
      controlUrl: null,
      stackDir: null,
    };
    project.provide('stack', info);
    return async () => {};
  }

  const { startStack } = await import('../../packages/local-stack/src/index.ts');
  const dataDir = await mkdtemp(join(tmpdir(), 'parley-e2e-'));
  // Run as root, PostgreSQL runs as a dedicated user that must be able to enter this folder.
  await chmod(dataDir, 0o755);
  const stack = await startStack({ dataDir, port: 0, logLevel: process.env.LOG_LEVEL ?? 'warn' });
  const control = await startControlServer(() => stack.restartGateway());

  project.provide('stack', {
    apiUrl: stack.apiUrl,
    anonKey: stack.anonKey,
    serviceRoleKey: stack.serviceRoleKey,
    dbUrl: stack.dbUrl,
    controlUrl: control.url,
    stackDir: dataDir,
  });

  return async () => {
    await new Promise<void>((resolve) => control.server.close(() => resolve()));
    await stack.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is missing: with SUPABASE_URL set, the suite also needs ${name}`);
  }
  return value;
}

async function startControlServer(restartGateway: () => Promise<void>): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    if (request.method !== 'POST' || request.url !== '/restart-gateway') {
      response.writeHead(404).end();
      return;
    }
    restartGateway().then(
      () => response.writeHead(204).end(),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('the control server has no TCP address');
  }
  return { server, url: `http://127.0.0.1:${address.port}` };
}
