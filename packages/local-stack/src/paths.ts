import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the repository: the nearest folder above this package that has a `supabase` folder. */
export function repositoryRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    if (existsSync(join(folder, 'supabase')) && existsSync(join(folder, 'package.json'))) return folder;
    folder = dirname(folder);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
}

/** Default data folder of `npm start`: `.local/stack` in the repository root, ignored by git. */
export function defaultDataDir(): string {
  return join(repositoryRoot(), '.local', 'stack');
}

/** Returns the path of the Deno binary shipped by the `deno` npm package. */
export function denoBinary(): string {
  const root = repositoryRoot();
  const candidates = [
    join(root, 'node_modules', '@deno', 'linux-x64-glibc', 'deno'),
    join(root, 'node_modules', 'deno', 'deno'),
    join(root, 'node_modules', '.bin', 'deno'),
  ];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found === undefined) {
    throw new Error('Deno was not found in node_modules; run npm install at the repository root');
  }
  return found;
}
