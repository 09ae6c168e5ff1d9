/**
 * The page's backend settings and the local device it acts as.
 */

/** Backend settings of the page. */
export interface DemoConfig {
  supabaseUrl: string;
  anonKey: string;
}

/** Device names as the `?device=` parameter accepts them. */
export const DEVICE_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;

/**
 * Reads the backend settings: `VITE_SUPABASE_URL` and `VITE_SUPABASE_ANON_KEY`
 * when the bundle was built with them, else `/config.json` from the server
 * that serves the page.
 */
export async function loadConfig(): Promise<DemoConfig> {
  const builtUrl = import.meta.env.VITE_SUPABASE_URL as string | undefined;
  const builtKey = import.meta.env.VITE_SUPABASE_ANON_KEY as string | undefined;
  if (builtUrl !== undefined && builtUrl !== '' && builtKey !== undefined && builtKey !== '') {
    return { supabaseUrl: builtUrl, anonKey: builtKey };
  }

  let response: Response;
  try {
    response = await fetch(new URL('config.json', document.baseURI), { cache: 'no-store' });
  } catch (error) {
    throw new Error(`loading config.json failed (${(error as Error).message}): serve the page with npm start`, { cause: error });
  }
  if (!response.ok) {
    throw new Error(`loading config.json failed with HTTP ${response.status}: serve the page with npm start, or build it with VITE_SUPABASE_URL and VITE_SUPABASE_ANON_KEY`);
  }

  const value = (await response.json()) as Partial<DemoConfig>;
  if (typeof value.supabaseUrl !== 'string' || typeof value.anonKey !== 'string') {
    throw new Error('config.json lacks "supabaseUrl" or "anonKey": restart npm start');
  }
  return { supabaseUrl: value.supabaseUrl, anonKey: value.anonKey };
}

/**
 * Returns the device name from `?device=`, `default` when absent. Each
 * device has its own key store and sign-in, so two tabs with different
 * devices act as two people.
 */
export function deviceFromLocation(location: Location): string {
  const device = new URLSearchParams(location.search).get('device') ?? 'default';
  if (!DEVICE_PATTERN.test(device)) {
    throw new Error(
      `invalid device ${JSON.stringify(device.slice(0, 40))} in the address: use 1 to 32 characters of a-z, 0-9 and "-", such as ?device=alice`,
    );
  }
  return device;
}
