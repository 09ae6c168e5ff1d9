/**
 * Serves every Edge Function of a functions folder from one Deno process, the way the Supabase
 * Edge Runtime routes `/<name>/...` to the function `<name>`. Each function folder provides
 * `handler.ts` with `export default { fetch(request) }`; folders starting with `_` are shared code.
 *
 * Environment: FUNCTIONS_DIR (absolute path), FUNCTIONS_PORT (0 picks a free port), plus the
 * SUPABASE_* variables the functions read. The process prints one JSON line `{"port": n}` on
 * stdout once it listens, and exits when its standard input closes, so it never outlives the
 * stack that started it.
 */

interface FunctionModule {
  default: { fetch(request: Request): Promise<Response> | Response };
}

const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

const functionsDir = Deno.env.get('FUNCTIONS_DIR');
if (functionsDir === undefined || functionsDir === '') {
  console.error('FUNCTIONS_DIR is not set; pass the absolute path of supabase/functions');
  Deno.exit(2);
}
const port = Number(Deno.env.get('FUNCTIONS_PORT') ?? '0');

const handlers = new Map<string, FunctionModule['default']>();
for await (const entry of Deno.readDir(functionsDir)) {
  if (!entry.isDirectory || entry.name.startsWith('_') || !FUNCTION_NAME.test(entry.name)) continue;
  const handlerPath = `${functionsDir}/${entry.name}/handler.ts`;
  try {
    await Deno.stat(handlerPath);
  } catch {
    continue;
  }
  const module = (await import(`file://${handlerPath}`)) as FunctionModule;
  if (typeof module.default?.fetch !== 'function') {
    console.error(`${handlerPath} does not export default { fetch }; skipping function ${entry.name}`);
    continue;
  }
  handlers.set(entry.name, module.default);
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const server = Deno.serve(
  {
    hostname: '127.0.0.1',
    port,
    onListen: ({ port: listening }) => {
      console.log(JSON.stringify({ port: listening, functions: [...handlers.keys()] }));
    },
  },
  async (request) => {
    const name = new URL(request.url).pathname.split('/')[1] ?? '';
    const handler = handlers.get(name);
    if (handler === undefined) return json(404, { code: 'NOT_FOUND', message: 'Requested function was not found' });
    try {
      return await handler.fetch(request);
    } catch (error) {
      console.error(JSON.stringify({ level: 'error', function: name, requestId: request.headers.get('x-request-id'), message: String(error) }));
      return json(500, { code: 'FUNCTION_ERROR', message: 'The function failed; see the stack log' });
    }
  },
);

// Standard input closes when the parent process exits, even after kill -9.
(async () => {
  const buffer = new Uint8Array(256);
  try {
    while ((await Deno.stdin.read(buffer)) !== null) {
      // Input is ignored; only the end of the stream matters.
    }
  } catch {
    // A read error means the parent is gone too.
  }
  await server.shutdown();
  Deno.exit(0);
})();

Deno.addSignalListener('SIGTERM', () => {
  server.shutdown().finally(() => Deno.exit(0));
});
