import { RestError } from './errors.ts';
import type { Filter, OrderTerm, SelectList } from './parse.ts';
import type { Relation, RoutineDefinition } from './schema-cache.ts';

/**
 * SQL builders for the REST API. Identifiers reach SQL only after a lookup in the schema cache
 * (`requireColumn`) and are quoted; every value travels as a bind parameter.
 */

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function qualifiedName(relation: { schema: string; name: string }): string {
  return `${quoteIdentifier(relation.schema)}.${quoteIdentifier(relation.name)}`;
}

/** Collects bind parameters and hands out their placeholders. */
export class Parameters {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** Checks that `column` exists on `relation`, with PostgreSQL's error for an unknown column. */
export function requireColumn(relation: Relation, column: string): string {
  if (!relation.columns.has(column)) {
    throw new RestError(400, '42703', `column ${relation.name}.${column} does not exist`, null, null);
  }
  return quoteIdentifier(column);
}

export function selectListSql(relation: Relation, select: SelectList): string {
  const parts: string[] = [];
  if (select.star) parts.push('*');
  for (const item of select.items) {
    const column = requireColumn(relation, item.column);
    parts.push(item.alias === item.column ? column : `${column} as ${quoteIdentifier(item.alias)}`);
  }
  return parts.join(', ');
}

export function whereSql(relation: Relation, filters: Filter[], parameters: Parameters): string {
  if (filters.length === 0) return '';
  const conditions = filters.map((filter) => conditionSql(relation, filter, parameters));
  return ` where ${conditions.join(' and ')}`;
}

const COMPARISONS: Record<string, string> = {
  eq: '=',
  neq: '<>',
  lt: '<',
  lte: '<=',
  gt: '>',
  gte: '>=',
  like: 'like',
  ilike: 'ilike',
};

function conditionSql(relation: Relation, filter: Filter, parameters: Parameters): string {
  const column = requireColumn(relation, filter.column);
  let condition: string;

  if (filter.operator === 'in') {
    condition =
      filter.values.length === 0
        ? 'false'
        : `${column} in (${filter.values.map((value) => parameters.add(value)).join(', ')})`;
  } else if (filter.operator === 'is') {
    condition = `${column} is ${filter.values[0]}`;
  } else {
    condition = `${column} ${COMPARISONS[filter.operator]} ${parameters.add(filter.values[0])}`;
  }

  return filter.negated ? `not (${condition})` : condition;
}

export function orderSql(relation: Relation, order: OrderTerm[]): string {
  if (order.length === 0) return '';
  const terms = order.map((term) => {
    let text = `${requireColumn(relation, term.column)} ${term.descending ? 'desc' : 'asc'}`;
    if (term.nulls !== undefined) text += ` nulls ${term.nulls}`;
    return text;
  });
  return ` order by ${terms.join(', ')}`;
}

/** Wraps a data-modifying statement so one row comes back: the JSON body and the row count. */
export function aggregateSql(source: string, withBody: boolean): string {
  const body = withBody ? `coalesce(json_agg(pgrst_source), '[]')::text` : 'null::text';
  return `with pgrst_source as (${source}) select ${body} as body, count(*)::int as row_count from pgrst_source`;
}

/** Builds the call of `routine` with named arguments taken from one JSON parameter. */
export function routineCallSql(routine: RoutineDefinition, argumentNames: string[], parameters: Parameters, argumentsJson: string): string {
  const call = `${qualifiedName(routine)}(${argumentNames
    .map((name) => `${quoteIdentifier(name)} := pgrst_args.${quoteIdentifier(name)}`)
    .join(', ')})`;

  if (argumentNames.length === 0) return `${call} as pgrst_result`;

  const definitions = argumentNames
    .map((name) => {
      const argument = routine.arguments.find((candidate) => candidate.name === name);
      return `${quoteIdentifier(name)} ${argument?.type}`;
    })
    .join(', ');
  return `json_to_record(${parameters.add(argumentsJson)}::text::json) as pgrst_args(${definitions}), ${call} as pgrst_result`;
}
