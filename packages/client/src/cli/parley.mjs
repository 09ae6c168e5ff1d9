#!/usr/bin/env node
// Entry point of the `parley` command: loads the TypeScript sources through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./main.ts');
const code = await main(process.argv.slice(2));

// Exit now: idle sockets and timers of supabase-js would keep the process alive for seconds.
process.exit(code);
