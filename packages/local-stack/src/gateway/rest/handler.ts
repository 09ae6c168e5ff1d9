import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Sql } from 'postgres';
import { BodyTooLargeError, headerValue, readBody, sendEmpty, sendJson } from '../http.ts';
import { runAsRole, type RoleContext, type Statement } from '../transaction.ts';
import {
  aggregateSql,
  orderSql,
  Parameters,
  qualifiedName,
  quoteIdentifier,
  requireColumn,
  routineCallSql,
  selectListSql,
  whereSql,
} from './build.ts';
import { fromDatabaseError, isDatabaseError, parseError, RestError } from './errors.ts';
import {
  parseColumnList,
  parseCount,
  parseFilter,
  parseOrder,
  parsePrefer,
  parseRange,
  parseSelect,
  RESERVED_PARAMETERS,
  type Filter,
  type Preferences,
} from './parse.ts';
import { EXPOSED_SCHEMAS, type Relation, type RoutineDefinition, type SchemaCache } from './schema-cache.ts';

/** The caller as the gateway authenticated it. */
export interface Caller {
  role: string;
  claims: Record<string, unknown>;
  /** True for a signed-in user's token; decides 401 versus 403 on a permission error. */
  authenticated: boolean;
}

export interface RestContext {
  sql: Sql;
  cache: SchemaCache;
  logger: Logger;
}

const SINGLE_OBJECT_MEDIA_TYPE = 'application/vnd.pgrst.object+json';

/** Minimum time between schema cache reloads triggered by a name that is not in the cache. */
const RELOAD_ON_MISS_INTERVAL_MS = 1000;

/** Headers that never reach `request.headers` inside the database, because they carry secrets. */
const HIDDEN_HEADERS = new Set(['authorization', 'apikey', 'cookie']);

/** Serves one request under `/rest/v1`; `path` is the part after that prefix. */
export async function handleRest(
  context: RestContext,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  query: URLSearchParams,
  caller: Caller,
): Promise<void> {
  try {
    checkProfile(request);
    if (!context.cache.roles.has(caller.role)) {
      throw new RestError(401, 'PGRST301', `JWT role "${caller.role}" is not a role the API can switch to`, null, 'Use a token with role anon, authenticated or service_role');
    }

    const segments = path.split('/').filter((segment) => segment !== '');
    if (segments.length === 0) {
      sendJson(response, 200, { swagger: '2.0', info: { title: 'Parley local stack', version: '12' }, paths: {} });
      return;
    }

    const method = request.method ?? 'GET';
    if (segments[0] === 'rpc' && segments.length === 2) {
      await handleRoutine(context, request, response, decodeSegment(segments[1] as string), query, caller);
      return;
    }
    if (segments.length !== 1) {
      throw new RestError(404, 'PGRST125', `Invalid path specified in request URL: ${path.slice(0, 100)}`);
    }

    const relation = await findRelation(context.cache, decodeSegment(segments[0] as string));
    switch (method) {
      case 'GET':
      case 'HEAD':
        await handleSelect(context, request, response, relation, query, caller);
        return;
      case 'POST':
        await handleInsert(context, request, response, relation, query, caller);
        return;
      case 'PATCH':
        await handleUpdate(context, request, response, relation, query, caller);
        return;
      case 'DELETE':
        await handleDelete(context, request, response, relation, query, caller);
        return;
      default:
        throw new RestError(405, 'PGRST117', `Unsupported HTTP method: ${method.slice(0, 20)}`, null, 'Use GET, HEAD, POST, PATCH or DELETE');
    }
  } catch (error) {
    sendRestError(context.logger, response, error, caller);
  }
}

/** Sends `error` in PostgREST's shape; unexpected errors are logged and get a generic 500. */
export function sendRestError(logger: Logger, response: ServerResponse, error: unknown, caller: Caller | undefined): void {
  if (error instanceof RestError) {
    sendJson(response, error.status, error.toBody());
    return;
  }
  if (error instanceof BodyTooLargeError) {
    sendJson(response, 413, { code: 'PGRST413', details: null, hint: 'Send a smaller body', message: error.message });
    return;
  }
  if (isDatabaseError(error)) {
    const restError = fromDatabaseError(error, caller?.authenticated ?? false);
    if (restError.status >= 500) logger.error({ code: error.code, err: error }, 'database error on REST request');
    sendJson(response, restError.status, restError.toBody());
    return;
  }
  logger.error({ err: error }, 'REST request failed');
  sendJson(response, 500, { code: 'PGRST000', details: null, hint: null, message: 'internal error in the local gateway' });
}

function checkProfile(request: IncomingMessage): void {
  for (const header of ['accept-profile', 'content-profile']) {
    const value = headerValue(request, header);
    if (value !== undefined && !EXPOSED_SCHEMAS.includes(value)) {
      throw new RestError(406, 'PGRST106', `The schema must be one of the following: ${EXPOSED_SCHEMAS.join(', ')}`);
    }
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw parseError(`path segment "${segment.slice(0, 60)}" is not valid percent-encoding`);
  }
}

async function findRelation(cache: SchemaCache, name: string): Promise<Relation> {
  let relation = cache.relation(name);
  if (relation === undefined && Date.now() - cache.loadedAt > RELOAD_ON_MISS_INTERVAL_MS) {
    await cache.reload();
    relation = cache.relation(name);
  }
  if (relation === undefined) {
    throw new RestError(404, 'PGRST205', `Could not find the table 'public.${name.slice(0, 63)}' in the schema cache`, null, null);
  }
  return relation;
}

/** Splits the query string into filters and the reserved parameters. */
function readQuery(query: URLSearchParams): { filters: Filter[]; reserved: Map<string, string> } {
  const filters: Filter[] = [];
  const reserved = new Map<string, string>();
  for (const [key, value] of query) {
    if (key === 'apikey') continue;
    if (RESERVED_PARAMETERS.has(key)) reserved.set(key, value);
    else filters.push(parseFilter(key, value));
  }
  if (filters.length > 100) throw parseError('more than 100 filters in one request');
  return { filters, reserved };
}

function roleContext(request: IncomingMessage, caller: Caller, path: string): RoleContext {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (HIDDEN_HEADERS.has(name) || value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return { role: caller.role, claims: caller.claims, method: request.method ?? 'GET', path, headers };
}

async function run(context: RestContext, request: IncomingMessage, caller: Caller, statements: Statement[]) {
  return runAsRole(context.sql, roleContext(request, caller, request.url?.split('?')[0] ?? ''), statements);
}

function wantsSingleObject(request: IncomingMessage): boolean {
  return (headerValue(request, 'accept') ?? '').includes(SINGLE_OBJECT_MEDIA_TYPE);
}

/** Sends rows as a JSON array, or as one object for `Accept: application/vnd.pgrst.object+json`. */
function sendRows(
  request: IncomingMessage,
  response: ServerResponse,
  status: number,
  body: string,
  rowCount: number,
  headers: Record<string, string>,
): void {
  if (wantsSingleObject(request)) {
    if (rowCount !== 1) {
      throw new RestError(406, 'PGRST116', 'JSON object requested, multiple (or no) rows returned', `The result contains ${rowCount} rows`);
    }
    const rows = JSON.parse(body) as unknown[];
    sendJson(response, status, JSON.stringify(rows[0]), { ...headers, 'Content-Type': `${SINGLE_OBJECT_MEDIA_TYPE}; charset=utf-8` });
    return;
  }
  if (request.method === 'HEAD') {
    sendEmpty(response, status, { ...headers, 'Content-Type': 'application/json; charset=utf-8' });
    return;
  }
  sendJson(response, status, body, headers);
}

function contentRange(offset: number, rowCount: number, total: number | undefined): string {
  const range = rowCount === 0 ? '*' : `${offset}-${offset + rowCount - 1}`;
  return `${range}/${total ?? '*'}`;
}

async function handleSelect(
  context: RestContext,
  request: IncomingMessage,
  response: ServerResponse,
  relation: Relation,
  query: URLSearchParams,
  caller: Caller,
): Promise<void> {
  const { filters, reserved } = readQuery(query);
  const preferences = parsePrefer(headerValue(request, 'prefer'));
  const range = parseRange(headerValue(request, 'range'));

  let offset = range?.offset ?? 0;
  let limit = range?.limit;
  if (reserved.has('offset')) offset = parseCount(reserved.get('offset') as string, 'offset');
  if (reserved.has('limit')) {
    const requested = parseCount(reserved.get('limit') as string, 'limit');
    limit = limit === undefined ? requested : Math.min(limit, requested);
  }

  const parameters = new Parameters();
  const columns = selectListSql(relation, parseSelect(reserved.get('select')));
  const where = whereSql(relation, filters, parameters);
  const order = orderSql(relation, parseOrder(reserved.get('order')));
  let page = '';
  if (limit !== undefined) page += ` limit ${parameters.add(limit)}`;
  if (offset > 0) page += ` offset ${parameters.add(offset)}`;

  const statements: Statement[] = [
    {
      text: `select coalesce(json_agg(pgrst_row), '[]')::text as body, count(*)::int as row_count from (select ${columns} from ${qualifiedName(relation)}${where}${order}${page}) pgrst_row`,
      params: parameters.values,
    },
  ];
  if (preferences.count === 'exact') {
    const countParameters = new Parameters();
    const countWhere = whereSql(relation, filters, countParameters);
    statements.push({ text: `select count(*)::int as total from ${qualifiedName(relation)}${countWhere}`, params: countParameters.values });
  }

  const [rows, countRows] = await run(context, request, caller, statements);
  const result = rows?.[0] as { body: string; row_count: number };
  const total = countRows === undefined ? undefined : (countRows[0] as { total: number }).total;

  const partial = total !== undefined && result.row_count < total && (limit !== undefined || offset > 0);
  sendRows(request, response, partial ? 206 : 200, result.body, result.row_count, {
    'Content-Range': contentRange(offset, result.row_count, total),
  });
}

/** Parses a JSON request body, with PostgREST's PGRST102 for anything that is not JSON. */
async function readJson(request: IncomingMessage): Promise<unknown> {
  const contentType = headerValue(request, 'content-type');
  if (contentType !== undefined && !/^application\/(json|vnd\.pgrst\.object\+json)\b/i.test(contentType.trim())) {
    throw new RestError(415, 'PGRST107', `Content-Type "${contentType.slice(0, 60)}" is not supported`, null, 'Send the body as application/json');
  }

  const body = await readBody(request);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new RestError(400, 'PGRST102', 'Empty or invalid json', null, 'Send a JSON object or an array of JSON objects');
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Returns the payload's rows and their column names, which PostgREST requires to match across rows. */
function rowsFromPayload(payload: unknown, relation: Relation, columnsParameter: string | undefined): { rows: Record<string, unknown>[]; columns: string[] } {
  const rows = Array.isArray(payload) ? payload : [payload];
  if (!rows.every(isPlainObject)) {
    throw new RestError(400, 'PGRST102', 'Empty or invalid json', 'The body must be a JSON object or an array of JSON objects');
  }

  let columns: string[];
  if (columnsParameter !== undefined) {
    columns = parseColumnList(columnsParameter, 'columns');
  } else {
    columns = rows.length === 0 ? [] : Object.keys(rows[0] as object);
    const expected = [...columns].sort().join(',');
    for (const row of rows) {
      if (Object.keys(row).sort().join(',') !== expected) {
        throw new RestError(400, 'PGRST102', 'All object keys must match', 'Every object in a bulk insert needs the same keys');
      }
    }
  }

  for (const column of columns) {
    if (!relation.columns.has(column)) {
      throw new RestError(400, 'PGRST204', `Could not find the '${column.slice(0, 63)}' column of '${relation.name}' in the schema cache`);
    }
  }
  return { rows: rows as Record<string, unknown>[], columns };
}

function returningSql(relation: Relation, reserved: Map<string, string>, preferences: Preferences): string {
  if (preferences.return !== 'representation') return '1';
  return selectListSql(relation, parseSelect(reserved.get('select')));
}

/** Runs an INSERT, UPDATE or DELETE statement as the caller and sends its result. */
async function runMutation(
  context: RestContext,
  request: IncomingMessage,
  response: ServerResponse,
  caller: Caller,
  statement: string,
  parameters: Parameters,
  preferences: Preferences,
  createdStatus: number,
): Promise<void> {
  const [resultRows] = await run(context, request, caller, [
    { text: aggregateSql(statement, preferences.return === 'representation'), params: parameters.values },
  ]);
  sendMutation(request, response, preferences, resultRows?.[0] as { body: string | null; row_count: number }, createdStatus);
}

/** Sends the result of INSERT, UPDATE or DELETE according to `Prefer: return=...`. */
function sendMutation(
  request: IncomingMessage,
  response: ServerResponse,
  preferences: Preferences,
  result: { body: string | null; row_count: number },
  createdStatus: number,
): void {
  const headers: Record<string, string> = {
    'Content-Range': contentRange(0, result.row_count, preferences.count === 'exact' ? result.row_count : undefined),
  };
  if (preferences.return === 'representation') {
    sendRows(request, response, createdStatus, result.body ?? '[]', result.row_count, headers);
    return;
  }
  if (wantsSingleObject(request) && result.row_count !== 1) {
    throw new RestError(406, 'PGRST116', 'JSON object requested, multiple (or no) rows returned', `The result contains ${result.row_count} rows`);
  }
  sendEmpty(response, createdStatus === 201 ? 201 : 204, headers);
}

async function handleInsert(
  context: RestContext,
  request: IncomingMessage,
  response: ServerResponse,
  relation: Relation,
  query: URLSearchParams,
  caller: Caller,
): Promise<void> {
  const { filters, reserved } = readQuery(query);
  if (filters.length > 0) throw parseError('filters are not allowed on insert', 'Remove the filter parameters from the request');
  const preferences = parsePrefer(headerValue(request, 'prefer'));
  const { rows, columns } = rowsFromPayload(await readJson(request), relation, reserved.get('columns'));

  const parameters = new Parameters();
  const target = qualifiedName(relation);
  const columnList = columns.map(quoteIdentifier).join(', ');
  const returning = returningSql(relation, reserved, preferences);

  let statement: string;
  if (rows.length === 0) {
    sendMutation(request, response, preferences, { body: '[]', row_count: 0 }, 201);
    return;
  }
  if (columns.length === 0) {
    if (rows.length > 1) throw parseError('a bulk insert of empty objects is not supported', 'Insert rows with at least one column');
    statement = `insert into ${target} default values`;
  } else {
    statement =
      `insert into ${target} (${columnList}) ` +
      `select ${columnList} from json_populate_recordset(null::${target}, ${parameters.add(JSON.stringify(rows))}::text::json)`;
  }

  if (preferences.resolution !== undefined || reserved.has('on_conflict')) {
    const conflictColumns = reserved.has('on_conflict')
      ? parseColumnList(reserved.get('on_conflict') as string, 'on_conflict').map((column) => requireColumn(relation, column))
      : relation.primaryKey.map(quoteIdentifier);
    if (conflictColumns.length === 0) {
      throw parseError(`table ${relation.name} has no primary key`, 'Name the unique columns with on_conflict');
    }
    if (preferences.resolution === 'ignore-duplicates' || columns.length === 0) {
      statement += ` on conflict (${conflictColumns.join(', ')}) do nothing`;
    } else if (preferences.resolution === 'merge-duplicates') {
      const updates = columns.map((column) => `${quoteIdentifier(column)} = excluded.${quoteIdentifier(column)}`);
      statement += ` on conflict (${conflictColumns.join(', ')}) do update set ${updates.join(', ')}`;
    }
  }
  statement += ` returning ${returning}`;

  await runMutation(context, request, response, caller, statement, parameters, preferences, 201);
}

async function handleUpdate(
  context: RestContext,
  request: IncomingMessage,
  response: ServerResponse,
  relation: Relation,
  query: URLSearchParams,
  caller: Caller,
): Promise<void> {
  const { filters, reserved } = readQuery(query);
  rejectPaging(reserved);
  const preferences = parsePrefer(headerValue(request, 'prefer'));
  const payload = await readJson(request);
  if (!isPlainObject(payload)) {
    throw new RestError(400, 'PGRST102', 'Empty or invalid json', 'An update body is one JSON object');
  }
  const { columns } = rowsFromPayload(payload, relation, undefined);

  const parameters = new Parameters();
  const target = qualifiedName(relation);
  const returning = returningSql(relation, reserved, preferences);
  let statement: string;
  if (columns.length === 0) {
    // An empty object changes nothing, as in PostgREST; the filters are still checked.
    statement = `select ${returning} from ${target}${whereSql(relation, filters, parameters)} limit 0`;
  } else {
    const columnList = columns.map(quoteIdentifier).join(', ');
    const source = `select ${columnList} from json_populate_record(null::${target}, ${parameters.add(JSON.stringify(payload))}::text::json)`;
    statement = `update ${target} set (${columnList}) = (${source})${whereSql(relation, filters, parameters)} returning ${returning}`;
  }

  await runMutation(context, request, response, caller, statement, parameters, preferences, 200);
}

async function handleDelete(
  context: RestContext,
  request: IncomingMessage,
  response: ServerResponse,
  relation: Relation,
  query: URLSearchParams,
  caller: Caller,
): Promise<void> {
  const { filters, reserved } = readQuery(query);
  rejectPaging(reserved);
  const preferences = parsePrefer(headerValue(request, 'prefer'));

  const parameters = new Parameters();
  const returning = returningSql(relation, reserved, preferences);
  const statement = `delete from ${qualifiedName(relation)}${whereSql(relation, filters, parameters)} returning ${returning}`;

  await runMutation(context, request, response, caller, statement, parameters, preferences, 200);
}

function rejectPaging(reserved: Map<string, string>): void {
  for (const name of ['limit', 'offset', 'order']) {
    if (reserved.has(name)) {
      throw parseError(`"${name}" is not supported on update or delete by the local stack`, 'Narrow the rows with filters instead');
    }
  }
}

async function handleRoutine(
  context: RestContext,
  request: IncomingMessage,
  response: ServerResponse,
  name: string,
  query: URLSearchParams,
  caller: Caller,
): Promise<void> {
  const method = request.method ?? 'GET';
  let args: Record<string, unknown>;
  if (method === 'POST') {
    const payload = await readJson(request);
    if (!isPlainObject(payload)) {
      throw new RestError(400, 'PGRST102', 'Empty or invalid json', 'Function arguments are one JSON object of named arguments');
    }
    args = payload;
  } else if (method === 'GET' || method === 'HEAD') {
    args = {};
    for (const [key, value] of query) {
      if (key === 'apikey' || RESERVED_PARAMETERS.has(key)) continue;
      args[key] = value;
    }
  } else {
    throw new RestError(405, 'PGRST101', 'Only GET and POST verbs are allowed for functions');
  }

  const routine = await findRoutine(context.cache, name, Object.keys(args));
  if (method !== 'POST' && routine.volatility === 'v') {
    throw new RestError(405, '25006', 'cannot execute a volatile function in a read-only transaction', null, 'Call the function with POST');
  }

  const parameters = new Parameters();
  const from = routineCallSql(routine, Object.keys(args), parameters, JSON.stringify(args));
  let text: string;
  if (routine.returnsVoid) text = `select null::text as body, 0 as row_count from ${from}`;
  else if (routine.returnsSet) text = `select coalesce(json_agg(pgrst_result), '[]')::text as body, count(*)::int as row_count from ${from}`;
  else text = `select to_json(pgrst_result)::text as body, 1 as row_count from ${from}`;

  const [rows] = await run(context, request, caller, [{ text, params: parameters.values }]);
  const result = rows?.[0] as { body: string | null; row_count: number } | undefined;

  if (routine.returnsVoid) {
    sendEmpty(response, 204);
    return;
  }
  if (routine.returnsSet) {
    sendRows(request, response, 200, result?.body ?? '[]', result?.row_count ?? 0, {});
    return;
  }
  sendJson(response, 200, result?.body ?? 'null');
}

async function findRoutine(cache: SchemaCache, name: string, argumentNames: string[]): Promise<RoutineDefinition> {
  let candidates = cache.routine(name);
  if (candidates.length === 0 && Date.now() - cache.loadedAt > RELOAD_ON_MISS_INTERVAL_MS) {
    await cache.reload();
    candidates = cache.routine(name);
  }

  const given = new Set(argumentNames);
  const match = candidates.find((routine) => {
    const known = new Set(routine.arguments.map((argument) => argument.name));
    if (![...given].every((argument) => known.has(argument))) return false;
    const required = routine.arguments.slice(0, routine.arguments.length - routine.defaultCount);
    return required.every((argument) => given.has(argument.name));
  });
  if (match === undefined) {
    const signature = argumentNames.map((argument) => argument.slice(0, 63)).join(', ');
    throw new RestError(
      404,
      'PGRST202',
      `Could not find the function public.${name.slice(0, 63)}(${signature}) in the schema cache`,
      null,
      'Check the function name and the names of its arguments',
    );
  }
  return match;
}
