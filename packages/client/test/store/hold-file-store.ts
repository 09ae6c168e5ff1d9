/**
 * Opens the FileStore named by the first argument, prints "open", and
 * closes it when a line arrives on stdin, or exits without closing it on
 * "exit". Used by the store tests as a second process.
 */
import { createInterface } from 'node:readline';

import { FileStore } from '../../src/node.ts';

const store = await FileStore.open(process.argv[2]!);
process.stdout.write('open\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'exit') {
    process.exit(0);
  }
  await store.close();
  process.stdout.write('closed\n');
  break;
}
