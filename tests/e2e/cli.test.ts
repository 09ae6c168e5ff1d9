import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
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

/** A CLI process with stdin and stdout on pipes, as under a script or a service manager. */
interface Piped {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
}

function startPiped(command: string, args: string[], env: Record<string, string>): Piped {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return {
    child,
    output: () => text,
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === null ? null : -1)))),
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Returns the process id in the lock file of `profile`'s store. */
async function lockHolder(home: string, profile: string): Promise<number> {
  const content = JSON.parse(await readFile(join(home, `${profile}.store.json.lock`), 'utf8')) as { pid: number };
  return content.pid;
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
  const terminals: Array<{ child: ChildProcessWithoutNullStreams }> = [];

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

  it('rejects a second chat for an open profile', async () => {
    const alice = uniqueProfile('alice');
    const first = startPiped('node', [CLI, 'chat', alice], env);
    terminals.push(first);
    await waitFor(() => first.output().includes(`Chatting as ${alice}`), `the first chat\n${first.output()}`, 60_000);
    const pid = await lockHolder(home, alice);

    const second = await runOnce(['chat', alice, 'bob'], env);
    expect(second.code).toBe(1);
    expect(second.output.trim()).toBe(`parley: profile ${alice} is already open in another parley chat (PID ${pid}); close it first`);

    first.child.stdin.end();
    expect(await first.exited).toBe(0);
    expect(await exists(join(home, `${alice}.store.json.lock`))).toBe(false);
  });

  it('rejects chatting with yourself', async () => {
    const carol = uniqueProfile('carol');
    const direct = await runOnce(['chat', carol, carol], env);
    expect(direct.code).toBe(1);
    expect(direct.output).toContain(`cannot chat with yourself: ${carol} is the profile you chat as`);

    // Lines piped in, then end of input: the chat handles them and exits.
    const piped = startPiped('node', [CLI, 'chat', carol], env);
    piped.child.stdin.end(`/to ${carol}\nhello me\n`);
    expect(await piped.exited).toBe(0);
    expect(piped.output()).toContain(`! cannot chat with yourself: ${carol} is the profile you chat as`);
    expect(piped.output()).toContain('! no contact: type /to <contact> first');
  });

  it('exits at the end of input', async () => {
    const erin = uniqueProfile('erin');
    // runOnce gives the CLI /dev/null as stdin, so the input ends before the chat starts.
    const result = await runOnce(['chat', erin, 'nobody-has-this-name'], env);
    expect(result.output).toContain(`Registered profile ${erin}.`);
    expect(result.code).toBe(0);
    expect(await exists(join(home, `${erin}.store.json.lock`))).toBe(false);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('stops cleanly on %s', async (signal, code) => {
    const grace = uniqueProfile('grace');
    const chat = startPiped('node', [CLI, 'chat', grace], env);
    terminals.push(chat);
    await waitFor(() => chat.output().includes(`Chatting as ${grace}`), `the chat prompt\n${chat.output()}`, 60_000);

    chat.child.kill(signal);
    expect(await chat.exited).toBe(code);
    expect(await exists(join(home, `${grace}.store.json.lock`))).toBe(false);
    expect(await readFile(join(home, `${grace}.log`), 'utf8')).toContain('chat stopped');
  });

  it('stops the chat when npm run chat is stopped', async () => {
    const heidi = uniqueProfile('heidi');
    const npm = startPiped('npm', ['run', '-s', 'chat', '--', heidi], env);
    terminals.push(npm);
    await waitFor(() => npm.output().includes(`Chatting as ${heidi}`), `the chat prompt\n${npm.output()}`, 60_000);
    const pid = await lockHolder(home, heidi);
    expect(isAlive(pid)).toBe(true);

    npm.child.kill('SIGTERM');
    await npm.exited;
    await waitFor(() => !isAlive(pid), `the chat process ${pid} to exit after npm`, 15_000);
    expect(await exists(join(home, `${heidi}.store.json.lock`))).toBe(false);
  });
});
