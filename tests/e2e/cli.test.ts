import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { stack, uniqueProfile, waitFor } from './helpers.ts';

const CLI = join(process.cwd(), 'packages', 'client', 'src', 'cli', 'parley.mjs');

/** A CLI process in a pseudo-terminal made by util-linux `script`, so it runs as in a real terminal. */
interface Terminal {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  type: (line: string) => void;
  exited: Promise<number | null>;
}

function quote(argument: string): string {
  return `'${argument.replaceAll("'", "'\\''")}'`;
}

function openTerminal(args: string[], env: Record<string, string>): Terminal {
  const command = ['node', CLI, ...args].map(quote).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { ...process.env, ...env, TERM: 'dumb', COLUMNS: '200' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return {
    child,
    output: () => text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, ''),
    type: (line) => child.stdin.write(`${line}\r`),
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
}

/** Runs the CLI without a terminal and returns its exit code and output. */
async function runOnce(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn('node', [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { code, output };
}

/** Returns a port on 127.0.0.1 that was free a moment ago, so connecting to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') {
    throw new Error('the probe server has no TCP address');
  }
  return address.port;
}

describe('command-line chat', () => {
  let home: string;
  let env: Record<string, string>;
  const terminals: Terminal[] = [];

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'parley-cli-'));
    env = { SUPABASE_URL: stack().apiUrl, SUPABASE_ANON_KEY: stack().anonKey, PARLEY_HOME: home };
  });

  afterAll(async () => {
    for (const terminal of terminals) {
      terminal.child.kill('SIGTERM');
    }
    await rm(home, { recursive: true, force: true });
  });

  it('delivers a message each way between two terminals', async () => {
    const alice = uniqueProfile('alice');
    const bob = uniqueProfile('bob');

    const aliceTerminal = openTerminal(['chat', alice, bob], env);
    terminals.push(aliceTerminal);
    await waitFor(() => aliceTerminal.output().includes(`Chatting as ${alice}`), `alice's prompt\n${aliceTerminal.output()}`, 60_000);

    const bobTerminal = openTerminal(['chat', bob, alice], env);
    terminals.push(bobTerminal);
    await waitFor(() => bobTerminal.output().includes(`Chatting as ${bob}`), `bob's prompt\n${bobTerminal.output()}`, 60_000);

    aliceTerminal.type('hello from alice');
    await waitFor(() => bobTerminal.output().includes(`${alice}: hello from alice`), `bob to print alice's line\n${bobTerminal.output()}`);

    bobTerminal.type('hi alice, bob here');
    await waitFor(() => aliceTerminal.output().includes(`${bob}: hi alice, bob here`), `alice to print bob's line\n${aliceTerminal.output()}`);

    aliceTerminal.type(`/safety ${bob}`);
    bobTerminal.type(`/safety ${alice}`);
    const numberPattern = /Safety number with \S+: ((?:\d{5} ){11}\d{5})/;
    await waitFor(() => numberPattern.test(aliceTerminal.output()) && numberPattern.test(bobTerminal.output()), 'both safety numbers');
    expect(numberPattern.exec(aliceTerminal.output())![1]).toBe(numberPattern.exec(bobTerminal.output())![1]);

    aliceTerminal.type('/quit');
    expect(await aliceTerminal.exited).toBe(0);

    // Alice comes back with a new identity key; bob's terminal warns before showing her message.
    const renewed = openTerminal(['chat', alice, bob, '--new-identity'], env);
    terminals.push(renewed);
    await waitFor(() => renewed.output().includes(`Chatting as ${alice}`), `alice's new prompt\n${renewed.output()}`, 60_000);
    renewed.type('new keys, same alice');
    await waitFor(
      () => bobTerminal.output().includes(`${alice}: new keys, same alice`),
      `bob to print the message from the new identity\n${bobTerminal.output()}`,
    );
    const bobOutput = bobTerminal.output();
    const warning = bobOutput.indexOf(`! identity changed: ${alice} has a new identity key`);
    expect(warning).toBeGreaterThan(-1);
    expect(warning).toBeLessThan(bobOutput.indexOf(`${alice}: new keys, same alice`));

    renewed.type('/quit');
    bobTerminal.type('/quit');
    expect(await renewed.exited).toBe(0);
    expect(await bobTerminal.exited).toBe(0);
  });

  it('reports an unknown profile', async () => {
    const carol = uniqueProfile('carol');
    const terminal = openTerminal(['chat', carol, 'nobody-has-this-name'], env);
    terminals.push(terminal);
    await waitFor(() => terminal.output().includes(`Chatting as ${carol}`), 'carol prompt', 60_000);
    terminal.type('anyone there?');
    await waitFor(() => terminal.output().includes('unknown profile:'), `the unknown profile message\n${terminal.output()}`);
    terminal.type('/quit');
    expect(await terminal.exited).toBe(0);
  });

  it('reports a backend that is not running', async () => {
    const port = await closedPort();
    const result = await runOnce(['chat', uniqueProfile('dave')], {
      ...env,
      SUPABASE_URL: `http://127.0.0.1:${port}`,
    });
    expect(result.code).toBe(1);
    expect(result.output).toContain(`cannot reach http://127.0.0.1:${port}: check SUPABASE_URL`);
  });

  it.skipIf(stack().stackDir === null)('finds the local stack without SUPABASE_URL', async () => {
    const frank = uniqueProfile('frank');
    const result = await runOnce(['safety-number', frank, frank.replace('frank', 'grace')], {
      PARLEY_HOME: home,
      SUPABASE_URL: '',
      PARLEY_STACK_DIR: stack().stackDir!,
      PARLEY_LOCAL_URL: stack().apiUrl,
    });
    expect(result.output).toContain(`Registered profile ${frank}.`);
    expect(result.output).toMatch(/unknown profile: .*does not exist/);
    expect(result.code).toBe(1);
  });

  it('reports a missing local stack', async () => {
    const result = await runOnce(['chat', uniqueProfile('erin')], {
      PARLEY_HOME: home,
      SUPABASE_URL: '',
      PARLEY_STACK_DIR: join(home, 'no-stack-here'),
    });
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/local stack is not set up.*npm start/);
  });

  it('rejects an invalid profile name', async () => {
    const result = await runOnce(['chat', 'No Such Name'], env);
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/invalid profile name "No Such Name"/);
  });
});
