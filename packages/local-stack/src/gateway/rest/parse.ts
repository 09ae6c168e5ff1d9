import { parseError, RestError } from './errors.ts';

/**
 * Parsers for the query-string grammar of PostgREST 12 that supabase-js's query builder sends.
 * They only split and classify text; names are checked against the schema cache afterwards.
 */

export type Operator = 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'like' | 'ilike' | 'in' | 'is';

export const OPERATORS = new Set<Operator>(['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'like', 'ilike', 'in', 'is']);

/** PostgREST operators this gateway does not implement; they get a clear 400. */
const UNSUPPORTED_OPERATORS = new Set([
  'match', 'imatch', 'cs', 'cd', 'ov', 'sl', 'sr', 'nxr', 'nxl', 'adj', 'fts', 'plfts', 'phfts', 'wfts', 'isdistinct',
]);

export type IsValue = 'null' | 'true' | 'false' | 'unknown';

export interface Filter {
  column: string;
  operator: Operator;
  negated: boolean;
  /** One value for most operators, the list for `in`. */
  values: string[];
}

export interface SelectItem {
  column: string;
  alias: string;
}

/** `*` is represented as an empty list of items with `star` set. */
export interface SelectList {
  star: boolean;
  items: SelectItem[];
}

export interface OrderTerm {
  column: string;
  descending: boolean;
  nulls: 'first' | 'last' | undefined;
}

/** Query parameters with a fixed meaning; every other parameter is a filter. */
export const RESERVED_PARAMETERS = new Set(['select', 'order', 'limit', 'offset', 'on_conflict', 'columns']);

/** Most values accepted in one `in` list. */
export const MAX_IN_VALUES = 1000;

/** Most filters, select items or order terms in one request. */
export const MAX_TERMS = 100;

const IDENTIFIER = /^[^\s,.:()"'\\;]{1,63}$/;

/** Checks the shape of a column name before it is looked up; the lookup is what makes it safe. */
export function parseIdentifier(text: string, what: string): string {
  if (!IDENTIFIER.test(text)) {
    throw parseError(`"${text}" is not a valid ${what} name`, 'Names are 1 to 63 characters without spaces, quotes, dots, commas, colons or parentheses');
  }
  return text;
}

/** Parses `select=a,b:c,*`. Embedding, casts and JSON paths are rejected with a 400. */
export function parseSelect(text: string | undefined): SelectList {
  if (text === undefined || text.trim() === '' || text.trim() === '*') return { star: true, items: [] };

  const list: SelectList = { star: false, items: [] };
  const parts = text.split(',');
  if (parts.length > MAX_TERMS) throw parseError(`select lists more than ${MAX_TERMS} columns`);

  for (const raw of parts) {
    const part = raw.trim();
    if (part === '*') {
      list.star = true;
      continue;
    }
    if (part.includes('(') || part.includes('!')) {
      throw parseError(`failed to parse select parameter (${text})`, 'Resource embedding is not supported by the local stack; select columns of one table');
    }
    if (part.includes('::') || part.includes('->')) {
      throw parseError(`failed to parse select parameter (${text})`, 'Casts and JSON paths in select are not supported by the local stack');
    }

    const colon = part.indexOf(':');
    const alias = colon === -1 ? part : part.slice(0, colon);
    const column = colon === -1 ? part : part.slice(colon + 1);
    list.items.push({ column: parseIdentifier(column, 'column'), alias: parseIdentifier(alias, 'alias') });
  }
  return list;
}

/** Parses one filter parameter such as `age=gte.18`, `id=in.(1,2)` or `name=not.is.null`. */
export function parseFilter(key: string, value: string): Filter {
  if (key === 'or' || key === 'and' || key.startsWith('not.')) {
    throw parseError(`"${key}" filters are not supported by the local stack`, 'Combine conditions with separate filters, which are joined with AND');
  }
  if (key.includes('.')) {
    throw parseError(`failed to parse filter (${key})`, 'Filters on embedded resources are not supported by the local stack');
  }
  const column = parseIdentifier(key, 'column');

  let rest = value;
  let negated = false;
  if (rest.startsWith('not.')) {
    negated = true;
    rest = rest.slice(4);
  }

  const dot = rest.indexOf('.');
  if (dot === -1) throw parseError(`failed to parse filter (${value})`, 'A filter is written operator.value, for example eq.5');

  const operatorText = rest.slice(0, dot);
  const operand = rest.slice(dot + 1);
  if (UNSUPPORTED_OPERATORS.has(operatorText) || /\((any|all)\)$/.test(operatorText)) {
    throw parseError(`operator "${operatorText}" is not supported by the local stack`, `Supported operators: ${[...OPERATORS].join(', ')}`);
  }
  if (!OPERATORS.has(operatorText as Operator)) {
    throw parseError(`failed to parse filter (${value})`, `Unknown operator "${operatorText}"; use one of ${[...OPERATORS].join(', ')}`);
  }
  const operator = operatorText as Operator;

  if (operator === 'in') return { column, operator, negated, values: parseInList(operand) };

  if (operator === 'is') {
    const normalized = operand.toLowerCase();
    if (normalized !== 'null' && normalized !== 'true' && normalized !== 'false' && normalized !== 'unknown') {
      throw parseError(`failed to parse filter (${value})`, '"is" takes null, true, false or unknown');
    }
    return { column, operator, negated, values: [normalized] };
  }

  if (operator === 'like' || operator === 'ilike') {
    return { column, operator, negated, values: [operand.replaceAll('*', '%')] };
  }
  return { column, operator, negated, values: [operand] };
}

/** Parses `(a,b,"c,d")`: double quotes allow commas and parentheses, backslash escapes a character. */
export function parseInList(text: string): string[] {
  if (!text.startsWith('(') || !text.endsWith(')')) {
    throw parseError(`failed to parse filter (in.${text})`, 'An "in" list is written in.(a,b,c)');
  }
  const body = text.slice(1, -1);
  const values: string[] = [];
  if (body === '') return values;

  let current = '';
  let quoted = false;
  let wasQuoted = false;
  for (let index = 0; index < body.length; index++) {
    const char = body[index] as string;
    if (char === '\\' && index + 1 < body.length) {
      current += body[++index];
      continue;
    }
    if (char === '"') {
      quoted = !quoted;
      wasQuoted = true;
      continue;
    }
    if (char === ',' && !quoted) {
      values.push(wasQuoted ? current : current.trim());
      current = '';
      wasQuoted = false;
      continue;
    }
    current += char;
  }
  if (quoted) throw parseError(`failed to parse filter (in.${text})`, 'Unterminated double quote in "in" list');
  values.push(wasQuoted ? current : current.trim());

  if (values.length > MAX_IN_VALUES) throw parseError(`"in" list has more than ${MAX_IN_VALUES} values`);
  return values;
}

/** Parses `order=a.desc.nullslast,b`. */
export function parseOrder(text: string | undefined): OrderTerm[] {
  if (text === undefined || text === '') return [];
  const parts = text.split(',');
  if (parts.length > MAX_TERMS) throw parseError(`order lists more than ${MAX_TERMS} columns`);

  return parts.map((part) => {
    const [columnText = '', ...modifiers] = part.trim().split('.');
    const term: OrderTerm = { column: parseIdentifier(columnText, 'column'), descending: false, nulls: undefined };
    for (const modifier of modifiers) {
      if (modifier === 'asc') term.descending = false;
      else if (modifier === 'desc') term.descending = true;
      else if (modifier === 'nullsfirst') term.nulls = 'first';
      else if (modifier === 'nullslast') term.nulls = 'last';
      else throw parseError(`failed to parse order (${text})`, `Unknown modifier "${modifier}"; use asc, desc, nullsfirst or nullslast`);
    }
    return term;
  });
}

/** Parses a comma-separated list of column names (`on_conflict`, `columns`). */
export function parseColumnList(text: string, parameter: string): string[] {
  const parts = text.split(',').map((part) => part.trim().replace(/^"(.*)"$/, '$1'));
  if (parts.length > MAX_TERMS) throw parseError(`${parameter} lists more than ${MAX_TERMS} columns`);
  return parts.map((part) => parseIdentifier(part, 'column'));
}

/** Parses a non-negative integer parameter such as `limit` or `offset`. */
export function parseCount(text: string, parameter: string): number {
  if (!/^\d{1,9}$/.test(text)) {
    throw parseError(`"${parameter}" must be a non-negative integer, got "${text.slice(0, 40)}"`);
  }
  return Number(text);
}

/** Parses a `Range: a-b` header into an offset and optional limit; undefined for a missing header. */
export function parseRange(header: string | undefined): { offset: number; limit: number | undefined } | undefined {
  if (header === undefined || header === '') return undefined;
  const match = /^(?:items=)?(\d{1,9})-(\d{0,9})$/.exec(header.trim());
  if (match === null) {
    throw new RestErrorRange(header);
  }
  const offset = Number(match[1]);
  if (match[2] === '') return { offset, limit: undefined };
  const last = Number(match[2]);
  if (last < offset) throw new RestErrorRange(header);
  return { offset, limit: last - offset + 1 };
}


/** An unsatisfiable Range header, which PostgREST rejects with 416 and PGRST103. */
class RestErrorRange extends RestError {
  constructor(header: string) {
    super(416, 'PGRST103', 'Requested range not satisfiable', `Invalid Range header "${header.slice(0, 40)}"; use a-b with a <= b`);
  }
}

export interface Preferences {
  return: 'minimal' | 'representation' | 'headers-only' | undefined;
  count: 'exact' | undefined;
  resolution: 'merge-duplicates' | 'ignore-duplicates' | undefined;
  missingDefault: boolean;
}

/** Parses the `Prefer` header. Unknown preferences are ignored, as PostgREST does by default. */
export function parsePrefer(header: string | undefined): Preferences {
  const preferences: Preferences = { return: undefined, count: undefined, resolution: undefined, missingDefault: false };
  if (header === undefined) return preferences;

  for (const raw of header.split(',')) {
    const [name = '', value = ''] = raw.trim().split('=').map((part) => part.trim());
    if (name === 'return' && (value === 'minimal' || value === 'representation' || value === 'headers-only')) {
      preferences.return = value;
    } else if (name === 'count' && value === 'exact') {
      preferences.count = 'exact';
    } else if (name === 'count' && (value === 'planned' || value === 'estimated')) {
      preferences.count = 'exact';
    } else if (name === 'resolution' && (value === 'merge-duplicates' || value === 'ignore-duplicates')) {
      preferences.resolution = value;
    } else if (name === 'missing' && value === 'default') {
      preferences.missingDefault = true;
    }
  }
  return preferences;
}
