import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { databaseSnapshot } from './support/snapshot.ts';
import { externalTarget, installFixture, signedInClient, startTarget, type TestTarget } from './support/stack.ts';

/** Generated requests per endpoint family; the seed makes a failure reproducible. */
const RUNS = 1000;
const SEED = 20261204;

let target: TestTarget;
let userToken: string;
let before: Record<string, string>;

beforeAll(async () => {
  target = await startTarget();
  await installFixture(target.sql);
  const owner = await signedInClient(target);
  await owner.client.from('conformance_items').insert({ name: 'fuzz-kept', score: 7 });
  // The fuzzing user owns no rows and may not write, so any change the snapshot shows is a bug.
  userToken = (await signedInClient(target)).accessToken;
  await target.sql`revoke insert, update, delete on public.conformance_items from authenticated`;
  before = await databaseSnapshot(target.sql);
});

afterAll(async () => {
  await target?.close();
});

/** Fragments that break parsers and SQL builders, mixed with random text. */
const hostile = fc.oneof(
  fc.constantFrom(
    "'", '"', ';', '--', '/*', '*/', '\\', '(', ')', ',', '.', ':', '::', '->', '%', '*', '\u0000', '\uffff', '🙂',
    "'; drop table public.conformance_canary; --", '" or 1=1 --', 'eq.', 'in.(', 'in.("a', 'is.', 'not.', 'not.not.eq.1',
    'select', 'pg_sleep(10)', 'conformance_canary', 'conformance_items', 'chat_topics', 'rpc', '..', '%00', '%ff', '%',
    '1e999', '-1', '99999999999999999999', 'null', 'true', '[]', '{}', 'x'.repeat(300),
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);
const hostileText = fc.array(hostile, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(''));

/** True for sign-up bodies the generators can produce by chance that are valid: anonymous or well-formed. */
function isValidSignUp(body: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return false;
  const record = parsed as Record<string, unknown>;
  if (record.email === undefined && record.password === undefined) return true;
  return typeof record.email === 'string' && /^[^\s@]+@[^\s@]+\.[^\s@]{2,}$/.test(record.email.trim()) && typeof record.password === 'string' && record.password.length >= 6;
}

function encode(text: string): string {
  return encodeURIComponent(text).replace(/%25(?=[0-9a-fA-F]{2})/g, () => (Math.random() < 0.5 ? '%' : '%25'));
}

const restRequest = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'PUT', 'OPTIONS'),
  table: fc.oneof(fc.constantFrom('conformance_items', 'conformance_canary', 'chat_topics', 'rpc/conformance_add', 'rpc/conformance_fail'), hostileText),
  parameters: fc.array(
    fc.tuple(fc.oneof(fc.constantFrom('select', 'order', 'limit', 'offset', 'on_conflict', 'columns', 'score', 'name', 'id', 'or', 'code', 'a'), hostileText), hostileText),
    { maxLength: 5 },
  ),
  body: fc.oneof(
    hostileText,
    fc.json(),
    fc.constant('{"name": "fuzz"'),
    fc.constant('[{"name":"a"},{"id":1}]'),
    fc.constant('{"id": 1, "label": "changed"}'),
  ),
  prefer: fc.oneof(fc.constant(undefined), fc.constantFrom('return=representation', 'count=exact', 'resolution=merge-duplicates', 'return=minimal,count=exact'), hostileText),
  range: fc.oneof(fc.constant(undefined), fc.constantFrom('0-9', '5-1', '-', 'items=0-', '99999999999-1'), hostileText),
  accept: fc.constantFrom(undefined, 'application/json', 'application/vnd.pgrst.object+json', 'text/csv'),
  asUser: fc.boolean(),
});

describe.skipIf(externalTarget)('fuzz', () => {
  it(`answers ${RUNS} malformed REST requests without a 5xx and changes nothing`, async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(restRequest, async (request) => {
        const query = request.parameters.map(([key, value]) => `${encode(key)}=${encode(value)}`).join('&');
        const url = `${target.apiUrl}/rest/v1/${encode(request.table).replace(/%2F/g, '/')}${query === '' ? '' : `?${query}`}`;
        const headers: Record<string, string> = { apikey: target.anonKey, 'Content-Type': 'application/json' };
        // The signed-in user owns no canary rows and the canary grants only select, so no request can change it.
        if (request.asUser) headers.Authorization = `Bearer ${userToken}`;
        if (request.prefer !== undefined) headers.Prefer = request.prefer.replace(/[^\x20-\x7e]/g, '');
        if (request.range !== undefined) headers.Range = request.range.replace(/[^\x20-\x7e]/g, '');
        if (request.accept !== undefined) headers.Accept = request.accept;
        const hasBody = !['GET', 'HEAD', 'OPTIONS'].includes(request.method);

        let response: Response;
        try {
          response = await fetch(url, { method: request.method, headers, ...(hasBody ? { body: request.body } : {}) });
        } catch (error) {
          // fetch itself rejects some generated URLs and headers before sending, so the gateway never receives them.
          if (error instanceof TypeError && !String((error as Error).cause ?? '').includes('ECONNREFUSED')) return;
          throw error;
        }
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        expect(response.status, `${request.method} ${url}`).toBeLessThan(500);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    expect([...statuses.values()].reduce((sum, count) => sum + count, 0)).toBeGreaterThanOrEqual(RUNS * 0.9);
    expect(await databaseSnapshot(target.sql)).toEqual(before);
  });

  it(`answers ${RUNS} malformed auth requests without a 5xx and changes nothing`, async () => {
    const authRequest = fc.record({
      path: fc.oneof(fc.constantFrom('signup', 'token?grant_type=password', 'token?grant_type=refresh_token', 'token', 'user', 'logout', 'logout?scope=local', '.well-known/jwks.json'), hostileText),
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
      body: fc.oneof(
        hostileText,
        fc.json(),
        // Shapes close to valid requests, but every email is malformed or every password too short.
        fc.record({ email: hostileText, password: fc.string({ maxLength: 80 }) }).map((value) => JSON.stringify(value)),
        fc.record({ email: fc.constant('someone@example.com'), password: fc.string({ maxLength: 5 }) }).map((value) => JSON.stringify(value)),
        fc.record({ refresh_token: fc.oneof(hostileText, fc.json()) }).map((value) => JSON.stringify(value)),
      ),
      authorization: fc.oneof(fc.constant(undefined), hostileText.map((text) => `Bearer ${text}`), fc.constant('Bearer')),
    });

    await fc.assert(
      fc.asyncProperty(authRequest, async (request) => {
        const body = request.body;
        if (request.path.startsWith('signup') && isValidSignUp(body)) return;
        const headers: Record<string, string> = { apikey: target.anonKey, 'Content-Type': 'application/json' };
        if (request.authorization !== undefined) headers.Authorization = request.authorization.replace(/[^\x20-\x7e]/g, '');
        let response: Response;
        try {
          response = await fetch(`${target.apiUrl}/auth/v1/${encode(request.path).replace(/%3F/g, '?').replace(/%3D/g, '=').replace(/%2F/g, '/')}`, {
            method: request.method,
            headers,
            ...(request.method === 'GET' ? {} : { body }),
          });
        } catch (error) {
          if (error instanceof TypeError) return;
          throw error;
        }
        await response.arrayBuffer();
        expect(response.status, `${request.method} ${request.path}`).toBeLessThan(500);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    expect(await databaseSnapshot(target.sql)).toEqual(before);
  });

  it(`answers ${RUNS} malformed function requests without a 5xx from the gateway`, async () => {
    const functionRequest = fc.record({
      name: fc.oneof(fc.constantFrom('echo', 'missing', '_shared', 'open'), hostileText),
      rest: fc.oneof(fc.constant(''), hostileText),
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      authorization: fc.oneof(fc.constant(undefined), hostileText.map((text) => `Bearer ${text}`)),
      body: hostileText,
    });
    await fc.assert(
      fc.asyncProperty(functionRequest, async (request) => {
        const headers: Record<string, string> = {};
        if (request.authorization !== undefined) headers.Authorization = request.authorization.replace(/[^\x20-\x7e]/g, '');
        let response: Response;
        try {
          response = await fetch(`${target.apiUrl}/functions/v1/${encode(request.name)}/${encode(request.rest)}`, {
            method: request.method,
            headers,
            ...(request.method === 'GET' ? {} : { body: request.body }),
          });
        } catch (error) {
          if (error instanceof TypeError) return;
          throw error;
        }
        await response.arrayBuffer();
        expect(response.status).toBeLessThan(500);
        if (request.name !== 'open' && request.name !== 'echo') expect(response.status).toBe(404);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
  });

  it(`survives ${RUNS} malformed websocket frames and changes nothing`, async () => {
    const frame = fc.oneof(
      hostileText,
      fc.json(),
      fc.array(fc.oneof(fc.constant(null), hostileText, fc.json().map((text) => JSON.parse(text) as unknown)), { maxLength: 6 }).map((value) => JSON.stringify(value)),
      fc.tuple(fc.constantFrom('realtime:fuzz', 'phoenix', 'realtime:'), fc.constantFrom('phx_join', 'phx_leave', 'broadcast', 'access_token', 'heartbeat', 'presence'), fc.json())
        .map(([topic, event, payload]) => JSON.stringify([null, '1', topic, event, JSON.parse(payload) as unknown])),
      fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
      fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.concat([Buffer.from([3]), Buffer.from(bytes)])),
    );
    const frames = fc.sample(frame, { numRuns: RUNS, seed: SEED });

    let socket: WebSocket | undefined;
    let closes = 0;
    const url = `${target.apiUrl.replace(/^http/, 'ws')}/realtime/v1/websocket?apikey=${target.anonKey}&vsn=2.0.0`;
    const open = () =>
      new Promise<WebSocket>((resolve, reject) => {
        const next = new WebSocket(url);
        next.once('open', () => resolve(next));
        next.once('error', reject);
        next.once('close', () => {
          closes += 1;
        });
      });

    for (const item of frames) {
      if (socket === undefined || socket.readyState !== WebSocket.OPEN) socket = await open();
      socket.send(item);
      await new Promise((resolve) => setImmediate(resolve));
    }
    socket?.close();

    const health = await fetch(`${target.apiUrl}/health`);
    expect(health.status).toBe(200);
    expect(closes).toBeGreaterThan(0);
    expect(await databaseSnapshot(target.sql)).toEqual(before);
  });

  it(`answers ${RUNS} malformed websocket upgrades with a 4xx`, async () => {
    const upgrade = fc.record({ apikey: fc.oneof(fc.constant(undefined), hostileText), vsn: fc.oneof(fc.constant(undefined), hostileText, fc.constantFrom('1.0.0', '2.0.0')) });
    const samples = fc.sample(upgrade, { numRuns: RUNS, seed: SEED });
    let rejected = 0;
    for (const sample of samples) {
      const parameters = new URLSearchParams();
      if (sample.apikey !== undefined) parameters.set('apikey', sample.apikey);
      if (sample.vsn !== undefined) parameters.set('vsn', sample.vsn);
      const status = await new Promise<number>((resolve) => {
        const socket = new WebSocket(`${target.apiUrl.replace(/^http/, 'ws')}/realtime/v1/websocket?${parameters}`);
        socket.once('unexpected-response', (_request, response) => {
          resolve(response.statusCode ?? 0);
          socket.terminate();
        });
        socket.once('open', () => {
          resolve(101);
          socket.close();
        });
        socket.once('error', () => resolve(-1));
      });
      expect(status === 400 || status === 401).toBe(true);
      rejected += 1;
    }
    expect(rejected).toBe(RUNS);
  });
});
