import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';

/** An Edge Function found in the functions folder. */
export interface FunctionDefinition {
  name: string;
  /** `[functions.<name>] verify_jwt` in supabase/config.toml; true when absent, as on Supabase. */
  verifyJwt: boolean;
}

/** Function names Supabase accepts: letters, digits, `_` and `-`, starting with a letter. */
const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

/**
 * Lists the functions in `functionsDir`: every folder whose name does not start with `_` and
 * that contains `handler.ts`. `verify_jwt` comes from `configPath` when that file exists.
 */
export async function discoverFunctions(functionsDir: string, configPath: string): Promise<FunctionDefinition[]> {
  if (!existsSync(functionsDir)) return [];

  let config: Record<string, unknown> = {};
  if (existsSync(configPath)) {
    try {
      config = parseToml(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new Error(`${configPath} is not valid TOML: ${(error as Error).message}`);
    }
  }
  const functionsConfig = (config.functions ?? {}) as Record<string, { verify_jwt?: unknown }>;

  const entries = await readdir(functionsDir, { withFileTypes: true });
  const definitions: FunctionDefinition[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith('_') || !FUNCTION_NAME.test(entry.name)) continue;
    if (!existsSync(join(functionsDir, entry.name, 'handler.ts'))) continue;
    const verifyJwt = functionsConfig[entry.name]?.verify_jwt;
    definitions.push({ name: entry.name, verifyJwt: verifyJwt !== false });
  }
  return definitions.sort((a, b) => a.name.localeCompare(b.name));
}
