/**
 * The command-line chat.
 *
 *   parley chat <profile> [contact]        chat as <profile>; lines go to [contact]
 *   parley safety-number <profile> <contact>
 *
 * Talks to the local stack of `npm start` by default, or to the project
 * named by SUPABASE_URL and SUPABASE_ANON_KEY.
 */
import { constants, homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import pino from 'pino';

import { Chat, checkProfileName } from '../chat/chat.ts';
import { ChatError } from '../chat/errors.ts';
import { FileStore, StoreLockedError } from '../store/file.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { CliError, createBackendClient, resolveBackend, signIn, unreachable, type Backend, type SignIn } from './backend.ts';
import { runTerminal } from './terminal.ts';

const USAGE = `Usage:
  parley chat <profile> [contact]           chat as <profile>; typed lines go to [contact]
  parley safety-number <profile> <contact>  print the safety number with <contact>

Options:
  --email <address>     sign in with email and password (PARLEY_PASSWORD) instead of anonymously
  --policy <policy>     on a contact's identity change: "accept-and-warn" (default) or "reject"
  --new-identity        give <profile> a new identity key (after losing its store); contacts are warned
  --home <folder>       folder of the per-profile store and session files (default ~/.parley, or PARLEY_HOME)
  -h, --help            show this help

Environment:
  SUPABASE_URL, SUPABASE_ANON_KEY   use this Supabase project instead of the local stack
  PARLEY_PASSWORD                   password for --email
`;

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        email: { type: 'string' },
        policy: { type: 'string', default: 'accept-and-warn' },
        'new-identity': { type: 'boolean', default: false },
        home: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }

  const [command, profile, contact, ...extra] = parsed.positionals;
  if (parsed.values.help === true || command === undefined) {
    process.stdout.write(USAGE);
    return parsed.values.help === true ? 0 : 2;
  }
  if (extra.length > 0 || (command !== 'chat' && command !== 'safety-number')) {
    process.stderr.write(`unknown arguments: ${parsed.positionals.join(' ')}\n\n${USAGE}`);
    return 2;
  }

  try {
    if (profile === undefined) {
      throw new CliError(`missing <profile>: name the profile to chat as, for example "parley ${command} alice"`);
    }
    checkProfileName(profile, 'profile');
    if (contact !== undefined) {
      checkProfileName(contact, 'contact');
      if (contact === profile) {
        throw new CliError(`cannot chat with yourself: ${contact} is the profile you chat as; name another profile as the contact`);
      }
    } else if (command === 'safety-number') {
      throw new CliError('missing <contact>: name the profile whose safety number to show');
    }

    const policy = parsed.values.policy;
    if (policy !== 'accept-and-warn' && policy !== 'reject') {
      throw new CliError(`invalid --policy ${JSON.stringify(policy)}: use "accept-and-warn" or "reject"`);
    }

    const how = signInMethod(parsed.values.email);
    const home = parsed.values.home ?? process.env.PARLEY_HOME ?? join(homedir(), '.parley');
    const backend = resolveBackend();
    const newIdentity = parsed.values['new-identity'] === true;
    return await run(command, { profile, contact, policy, how, home, backend, newIdentity });
  } catch (error) {
    process.stderr.write(`parley: ${describe(error)}\n`);
    return 1;
  }
}

interface RunOptions {
  profile: string;
  contact: string | undefined;
  policy: 'accept-and-warn' | 'reject';
  how: SignIn;
  home: string;
  backend: Backend;
  newIdentity: boolean;
}

/** Maximum wait for a clean stop after a signal, after which the process exits anyway. */
const STOP_TIMEOUT_MS = 5_000;

async function run(command: string, options: RunOptions): Promise<number> {
  const { profile, home, backend } = options;

  // The store is opened first, so a profile open in another chat fails before any network traffic.
  let store: FileStore;
  try {
    store = await FileStore.open(join(home, `${profile}.store.json`));
  } catch (error) {
    if (error instanceof StoreLockedError) {
      throw new CliError(`profile ${profile} is already open in another parley chat (PID ${error.pid}); close it first`);
    }
    throw error;
  }

  const logFile = join(home, `${profile}.log`);
  const logger = pino({ level: process.env.PARLEY_LOG_LEVEL ?? 'info' }, pino.destination({ dest: logFile, mkdir: true, sync: true }));
  const client = createBackendClient(backend, join(home, `${profile}.session.json`));
  const chat = new Chat(client, store, { identityPolicy: options.policy, logger });

  // SIGINT, SIGTERM and SIGHUP stop the chat cleanly within STOP_TIMEOUT_MS. A second signal exits at once.
  const stop = new AbortController();
  let signalCode: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const code = 128 + constants.signals[signal];
    if (signalCode !== undefined) {
      process.exit(code);
    }
    signalCode = code;
    stop.abort();
    setTimeout(() => {
      process.stderr.write(`parley: stopping timed out after ${STOP_TIMEOUT_MS / 1000} s; exiting without a clean stop\n`);
      process.exit(code);
    }, STOP_TIMEOUT_MS).unref();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) {
    process.on(signal, onSignal);
  }

  try {
    await signIn(client, options.how, backend);
    const registered = await chat.load();
    if (options.newIdentity) {
      await chat.register(profile, { replaceIdentity: true });
      process.stdout.write(`Gave ${profile} a new identity key; contacts will be warned of the change.\n`);
    } else if (registered === undefined) {
      await chat.register(profile);
      process.stdout.write(`Registered profile ${profile}.\n`);
    }

    if (command === 'safety-number') {
      const number = await chat.safetyNumber(options.contact!);
      process.stdout.write(`${number.formatted}\n`);
      if (number.source === 'published') {
        process.stdout.write(`(from the key ${options.contact} publishes; you have not exchanged messages yet)\n`);
      }
      return 0;
    }

    if (stop.signal.aborted) {
      return signalCode!;
    }
    const code = await runTerminal(chat, { profile, contact: options.contact, backend, stop: stop.signal });
    return signalCode ?? code;
  } catch (error) {
    if (signalCode !== undefined) {
      return signalCode;
    }
    if (error instanceof ChatError && error.code === 'unavailable') {
      throw unreachable(backend, error);
    }
    throw error;
  } finally {
    await chat.stop().catch(() => undefined);
    await store.close();
    client.realtime.disconnect();
    for (const signal of signals) {
      process.off(signal, onSignal);
    }
  }
}

function signInMethod(email: string | undefined): SignIn {
  if (email === undefined) {
    return { method: 'anonymous' };
  }
  const password = process.env.PARLEY_PASSWORD;
  if (password === undefined || password === '') {
    throw new CliError('--email needs the password in PARLEY_PASSWORD (kept out of the shell history)');
  }
  return { method: 'email', email, password };
}

/** Returns the one-line message the CLI prints for `error`. */
export function describe(error: unknown): string {
  if (error instanceof CliError) {
    return error.message;
  }
  if (error instanceof ChatError) {
    switch (error.code) {
      case 'not_signed_in':
        return `not signed in: ${error.message}`;
      case 'unknown_profile':
        return `unknown profile: ${error.message}`;
      case 'identity_changed':
        return `identity changed: ${error.message}`;
      case 'already_registered':
        return error.message.replace('register with replaceIdentity', 'run again with --new-identity');
      default:
        return error.message;
    }
  }
  if (error instanceof ProtocolError) {
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
