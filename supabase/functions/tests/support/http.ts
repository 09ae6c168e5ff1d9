/** Request helpers that call a function's handler directly, as the local stack's router does. */
import type { Handler } from "../../_shared/http.ts";

export interface JsonResponse<Body = unknown> {
  status: number;
  headers: Headers;
  body: Body;
}

/** Sends a JSON POST with a bearer token and parses the JSON response. */
export async function post<Body = unknown>(
  handler: Handler,
  name: string,
  token: string | undefined,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse<Body>> {
  const request = new Request(`http://127.0.0.1/functions/v1/${name}`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(token === undefined ? {} : { Authorization: `Bearer ${token}` }),
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

  return await readJson<Body>(await handler.fetch(request));
}

export async function readJson<Body = unknown>(response: Response): Promise<JsonResponse<Body>> {
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text === "" ? null : JSON.parse(text)) as Body };
}

/** The error object of a JSON error response. */
export interface ErrorBody {
  error: { code: string; message: string };
}
