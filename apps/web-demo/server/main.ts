/**
 * Serves the web demo against a running backend:
 *
 *   SUPABASE_URL=http://127.0.0.1:54321 SUPABASE_ANON_KEY=... npm run serve -w @parley/web-demo
 *
 * `npm start` at the repository root serves it next to the local stack, so
 * this entry point is for a backend started some other way (`supabase start`).
 */
import { DEFAULT_WEB_DEMO_PORT, serveWebDemo } from './index.ts';

async function main(): Promise<void> {
  const apiUrl = process.env.SUPABASE_URL;
  const anonKey = process.env.SUPABASE_ANON_KEY;
  if (apiUrl === undefined || apiUrl === '' || anonKey === undefined || anonKey === '') {
    console.error('web demo: set SUPABASE_URL and SUPABASE_ANON_KEY (the API URL and anon key of your backend)');
    process.exit(2);
  }
  const port = process.env.PORT === undefined || process.env.PORT === '' ? DEFAULT_WEB_DEMO_PORT : Number(process.env.PORT);

  const server = await serveWebDemo({ apiUrl, anonKey, port });
  process.stdout.write(`Parley web demo: ${server.url}\nOpen it in two windows with ?device=alice and ?device=bob to chat.\n`);

  const stop = () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(`web demo failed: ${(error as Error).message}`);
  process.exit(1);
});
