import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, startStack } from '../src/index.ts';
import { client, externalTarget, waitFor, writeTestFunctions, type TestTarget } from './support/stack.ts';

let root: string;
let functionsDir: string;
const started: ChildProcess[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parley-lifecycle-'));
  await chmod(root, 0o755);
  functionsDir = await writeTestFunctions(root);
});

afterAll(async () => {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await rm(root, { recursive: true, force: true });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface LockFile {
  pid: number;
  children: { role: string; pid: number }[];
}

async function readLock(dataDir: string): Promise<LockFile> {
  return JSON.parse(await readFile(join(dataDir, 'stack.lock'), 'utf8')) as LockFile;
}

async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const path = join(dataDir, 'postgres', 'postmaster.pid');
  if (!existsSync(path)) return undefined;
  return Number((await readFile(path, 'utf8')).split('\n')[0]);
}

/** Runs `npm start`'s entry point and resolves with the printed API URL and the output so far. */
async function startCommand(dataDir: string): Promise<{ child: ChildProcess; apiUrl: string; output: () => string }> {
  const entry = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = spawn(process.execPath, ['--import', tsx, entry, '--port', '0', '--data-dir', dataDir, '--functions-dir', functionsDir, '--log-level', 'info', '--web-demo-port', 'off'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a test can send SIGINT to the whole group as Ctrl-C in a terminal does.
    detached: true,
  });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await waitFor(() => /API URL: (\S+)/.test(stdout) || child.exitCode !== null, 120_000, 'the status block');
  const match = /API URL: (\S+)/.exec(stdout);
  if (match === null) throw new Error(`npm start exited early:\n${stderr}`);
  return { child, apiUrl: match[1] as string, output: () => `${stdout}\n${stderr}` };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe.skipIf(externalTarget)('lifecycle', () => {
  it('keeps data and keys across stop and start', async () => {
    const dataDir = join(root, 'kept');
    const first = await startStack({ dataDir, port: 0, logLevel: 'warn', functionsDir });
    const email = 'kept@example.com';
    const signUp = await client(first as unknown as TestTarget).auth.signUp({ email, password: 'kept password' });
    expect(signUp.error).toBeNull();
    await first.stop();
    expect(existsSync(join(dataDir, 'stack.lock'))).toBe(false);
    expect(await postmasterPid(dataDir)).toBeUndefined();

    const second = await startStack({ dataDir, port: 0, logLevel: 'warn', functionsDir });
    try {
      expect(second.anonKey).toBe(first.anonKey);
      expect(second.serviceRoleKey).toBe(first.serviceRoleKey);
      const signIn = await client(second as unknown as TestTarget).auth.signInWithPassword({ email, password: 'kept password' });
      expect(signIn.error).toBeNull();
      expect(signIn.data.user?.id).toBe(signUp.data.user?.id);
    } finally {
      await second.stop();
    }
  });

  it('uses an existing database from databaseUrl', async () => {
    await mkdir(join(root, 'external'), { mode: 0o755 });
    const cluster = await startCluster({ dataDir: join(root, 'external', 'postgres') });
    try {
      const stack = await startStack({ dataDir: join(root, 'external', 'stack'), databaseUrl: cluster.superuserUrl, port: 0, logLevel: 'warn', functionsDir });
      try {
        expect(stack.dbUrl).toBe(cluster.superuserUrl);
        const { error } = await client(stack as unknown as TestTarget).auth.signInAnonymously();
        expect(error).toBeNull();
        const rest = await fetch(`${stack.apiUrl}/rest/v1/chat_participants?select=id`, { headers: { apikey: stack.serviceRoleKey } });
        expect(rest.status).toBe(200);
      } finally {
        await stack.stop();
      }
      // The stack leaves a database it did not start running.
      expect(isAlive((await postmasterPid(join(root, 'external'))) as number)).toBe(true);
    } finally {
      await cluster.stop();
    }
  });

  it('restarts a killed functions router', async () => {
    const stack = await startStack({ dataDir: join(root, 'deno'), port: 0, logLevel: 'warn', functionsDir });
    try {
      const first = stack.functionsPid() as number;
      process.kill(first, 'SIGKILL');
      await waitFor(async () => {
        if (stack.functionsPid() === first) return false;
        const response = await fetch(`${stack.apiUrl}/functions/v1/open`, { method: 'POST', body: 'x' }).catch(() => undefined);
        return response?.status === 200;
      }, 60_000, 'the restarted functions router');
      expect(isAlive(first)).toBe(false);
    } finally {
      await stack.stop();
    }
  });

  it('refuses a second stack on the same data folder', async () => {
    const dataDir = join(root, 'busy');
    const stack = await startStack({ dataDir, port: 0, logLevel: 'warn', functionsDir });
    try {
      await expect(startStack({ dataDir, port: 0, logLevel: 'warn', functionsDir })).rejects.toThrow(/another local stack/);
    } finally {
      await stack.stop();
    }
  });

  it('restarts the gateway programmatically on the same port', async () => {
    const stack = await startStack({ dataDir: join(root, 'restart'), port: 0, logLevel: 'warn', functionsDir });
    try {
      const before = stack.gatewayPid();
      await stack.restartGateway();
      expect(stack.gatewayPid()).not.toBe(before);
      const health = await fetch(`${stack.apiUrl}/health`);
      expect(health.status).toBe(200);
    } finally {
      await stack.stop();
    }
  });

  it('survives kill -9 of the gateway', async () => {
    const dataDir = join(root, 'command');
    const { child, apiUrl } = await startCommand(dataDir);
    const lock = await readLock(dataDir);
    const gateway = lock.children.find((entry) => entry.role === 'gateway')?.pid as number;
    const functions = lock.children.find((entry) => entry.role === 'functions')?.pid as number;
    const postgres = (await postmasterPid(dataDir)) as number;
    expect(isAlive(gateway)).toBe(true);
    expect(isAlive(functions)).toBe(true);
    expect(isAlive(postgres)).toBe(true);

    process.kill(gateway, 'SIGKILL');
    await waitFor(async () => {
      const current = await readLock(dataDir);
      const next = current.children.find((entry) => entry.role === 'gateway')?.pid;
      if (next === undefined || next === gateway) return false;
      return (await fetch(`${apiUrl}/health`).catch(() => undefined))?.status === 200;
    }, 30_000, 'the restarted gateway');
    const restarted = (await readLock(dataDir)).children.find((entry) => entry.role === 'gateway')?.pid as number;

    // Ctrl-C: every process of the group gets SIGINT at once.
    process.kill(-(child.pid as number), 'SIGINT');
    expect(await exited(child)).toBe(0);
    for (const pid of [restarted, functions, postgres]) expect(isAlive(pid), `pid ${pid}`).toBe(false);
    expect(existsSync(join(dataDir, 'stack.lock'))).toBe(false);
  });

  it('recovers after kill -9 of npm start', async () => {
    const dataDir = join(root, 'killed');
    const first = await startCommand(dataDir);
    const lock = await readLock(dataDir);
    const children = lock.children.map((entry) => entry.pid);
    const postgres = (await postmasterPid(dataDir)) as number;

    first.child.kill('SIGKILL');
    await exited(first.child);
    // The gateway exits when its IPC channel closes and Deno when its stdin closes.
    await waitFor(() => children.every((pid) => !isAlive(pid)), 15_000, 'the children to exit');
    expect(isAlive(postgres)).toBe(true);

    const second = await startCommand(dataDir);
    expect(second.output()).toContain('recovered a stale lock');
    expect(isAlive(postgres)).toBe(false);
    const health = await fetch(`${second.apiUrl}/health`);
    expect(health.status).toBe(200);

    second.child.kill('SIGTERM');
    expect(await exited(second.child)).toBe(0);
    expect(await postmasterPid(dataDir)).toBeUndefined();
  });
});
