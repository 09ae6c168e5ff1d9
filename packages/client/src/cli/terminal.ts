/**
 * The interactive part of the command-line chat: a prompt that sends each
 * typed line, and incoming messages printed above it as they arrive.
 */
import { createInterface } from 'node:readline';

import type { Chat } from '../chat/chat.ts';
import { ChatError } from '../chat/errors.ts';
import { checkProfileName } from '../chat/chat.ts';
import type { Backend } from './backend.ts';

const HELP = `Commands:
  /to <contact>        send the next lines to <contact>
  /safety [contact]    show the safety number with a contact
  /trust <contact>     trust the identity key the contact publishes now
  /quit                leave (Ctrl-D or end of input also works)
Any other line is sent to the current contact.
`;

/** Options of {@link runTerminal}. */
export interface TerminalOptions {
  profile: string;
  contact: string | undefined;
  backend: Backend;
  /** Stops the prompt when aborted, for example on a signal. */
  stop?: AbortSignal;
}

/** Runs the prompt until /quit, end of input or `stop`; returns the exit code. */
export async function runTerminal(chat: Chat, options: TerminalOptions): Promise<number> {
  const output = process.stdout;
  let contact = options.contact;
  const rl = createInterface({ input: process.stdin, output, terminal: process.stdin.isTTY === true });
  const setPrompt = () => rl.setPrompt(contact === undefined ? `${options.profile}> ` : `${options.profile} to ${contact}> `);

  let closed = false;

  /** Prints a line above the prompt without garbling what the user is typing. */
  const print = (line: string) => {
    if (rl.terminal && !closed) {
      output.write('\r\x1b[K');
      output.write(`${line}\n`);
      rl.prompt(true);
    } else {
      output.write(`${line}\n`);
    }
  };

  chat.on('message', (message) => {
    const body = message.text ?? `[${message.contentType}, ${message.body.length} bytes]`;
    print(`${message.from}: ${body}`);
  });
  chat.on('identityChanged', (change) => {
    print(
      `! identity changed: ${change.profile} has a new identity key. New safety number: ${change.safetyNumber}. ` +
        (change.accepted
          ? 'Compare it with them before you trust this conversation.'
          : `Their messages are rejected until you compare it and type /trust ${change.profile}.`),
    );
  });
  chat.on('error', (event) => {
    if (event.kind === 'topic') {
      print(`! a message from ${event.from} could not be decrypted (${event.code}); it was dropped`);
    }
  });
  let connected = true;
  chat.on('connection', ({ status }) => {
    if (status === 'subscribed' && !connected) {
      print('! reconnected');
    } else if (status !== 'subscribed' && connected) {
      print('! connection lost; reconnecting');
    }
    connected = status === 'subscribed';
  });

  // Listeners go on before chat.start(), so an input that ends (or a stop) while it runs still ends the prompt.
  const finished = new Promise<number>((resolve) => {
    rl.on('close', () => {
      closed = true;
      resolve(0);
    });
  });
  // In a terminal, readline reads Ctrl-C itself and emits SIGINT on the interface instead of the process.
  rl.on('SIGINT', () => {
    if (process.listenerCount('SIGINT') > 0) {
      process.emit('SIGINT', 'SIGINT');
    } else {
      rl.close();
    }
  });
  const onStop = () => rl.close();
  options.stop?.addEventListener('abort', onStop);
  if (options.stop?.aborted === true) {
    rl.close();
  }

  // Lines are handled one at a time so messages leave in the order typed.
  // Lines typed while chat.start() runs wait for it.
  let startFailed = false;
  const started = chat.start();
  let queue: Promise<unknown> = started.catch(() => {
    startFailed = true;
  });
  rl.on('line', (line) => {
    queue = queue.then(async () => {
      if (startFailed) {
        return;
      }
      const next = await handleLine(chat, line.trim(), options.profile, contact, print, () => rl.close());
      if (next !== contact) {
        contact = next;
        setPrompt();
      }
      if (!closed) {
        rl.prompt();
      }
    });
  });

  try {
    await started;
  } catch (error) {
    rl.close();
    options.stop?.removeEventListener('abort', onStop);
    throw error;
  }
  if (closed) {
    options.stop?.removeEventListener('abort', onStop);
    await queue;
    return finished;
  }

  print(
    `Chatting as ${options.profile} via ${options.backend.url}.` +
      (contact === undefined ? ' Type /to <contact> to pick a contact, /help for commands.' : ` Lines go to ${contact}.`),
  );
  setPrompt();
  rl.prompt();

  const code = await finished;
  options.stop?.removeEventListener('abort', onStop);
  await queue;
  return code;
}

async function handleLine(
  chat: Chat,
  line: string,
  profile: string,
  contact: string | undefined,
  print: (line: string) => void,
  quit: () => void,
): Promise<string | undefined> {
  if (line === '') {
    return contact;
  }

  try {
    if (line.startsWith('/')) {
      const [command, argument] = line.split(/\s+/, 2);
      switch (command) {
        case '/quit':
        case '/exit':
          quit();
          return contact;
        case '/help':
          print(HELP.trimEnd());
          return contact;
        case '/to':
          if (argument === undefined) {
            print('! /to needs a contact, for example /to bob');
            return contact;
          }
          checkProfileName(argument, 'contact');
          if (argument === profile) {
            print(`! cannot chat with yourself: ${argument} is the profile you chat as; pick another contact`);
            return contact;
          }
          print(`Lines now go to ${argument}.`);
          return argument;
        case '/safety': {
          const target = argument ?? contact;
          if (target === undefined) {
            print('! /safety needs a contact, for example /safety bob');
            return contact;
          }
          const number = await chat.safetyNumber(target);
          print(`Safety number with ${target}: ${number.formatted}${number.source === 'published' ? ' (not yet trusted)' : ''}`);
          return contact;
        }
        case '/trust': {
          if (argument === undefined) {
            print('! /trust needs a contact, for example /trust bob');
            return contact;
          }
          const number = await chat.trustIdentity(argument);
          print(`Trusted the identity key of ${argument}. Safety number: ${number.formatted}`);
          return contact;
        }
        default:
          print(`! unknown command ${command}; type /help`);
          return contact;
      }
    }

    if (contact === undefined) {
      print('! no contact: type /to <contact> first');
      return contact;
    }
    await chat.send(contact, line);
    return contact;
  } catch (error) {
    print(`! ${lineError(error)}`);
    return contact;
  }
}

function lineError(error: unknown): string {
  if (error instanceof ChatError) {
    switch (error.code) {
      case 'unknown_profile':
        return `unknown profile: ${error.message}`;
      case 'identity_changed':
        return `identity changed: ${error.message}`;
      case 'not_signed_in':
        return `not signed in: ${error.message}`;
      case 'unavailable':
        return `not sent: ${error.message}`;
      default:
        return error.message;
    }
  }
  return error instanceof Error ? error.message : String(error);
}
