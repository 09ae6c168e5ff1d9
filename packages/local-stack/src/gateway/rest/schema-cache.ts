import type { Sql } from 'postgres';

/** Schemas the REST API exposes, as on a default Supabase project's data API. */
export const EXPOSED_SCHEMAS = ['public'];

export interface Column {
  name: string;
  type: string;
}

export interface Relation {
  schema: string;
  name: string;
  /** pg_class.relkind: r table, p partitioned table, v view, m materialized view, f foreign table. */
  kind: string;
  columns: Map<string, Column>;
  primaryKey: string[];
}

export interface FunctionArgument {
  name: string;
  type: string;
}

export interface RoutineDefinition {
  schema: string;
  name: string;
  /** Input arguments in declaration order; all named, since only those are callable with named arguments. */
  arguments: FunctionArgument[];
  /** How many trailing input arguments have defaults. */
  defaultCount: number;
  returnsSet: boolean;
  returnsVoid: boolean;
  /** pg_proc.provolatile: i immutable, s stable, v volatile. */
  volatility: string;
}

interface RelationRow {
  schema: string;
  name: string;
  kind: string;
  columns: Column[];
  primary_key: string[];
}

interface RoutineRow {
  schema: string;
  name: string;
  arg_names: string[] | null;
  arg_modes: string[] | null;
  arg_types: string[];
  default_count: number;
  returns_set: boolean;
  return_type: string;
  volatility: string;
}

/**
 * Tables, views, functions and switchable roles read from the catalog. Every identifier the REST
 * handler puts into SQL is first looked up here, so a name that is not in the catalog never
 * reaches a statement.
 */
export class SchemaCache {
  relations = new Map<string, Relation>();
  routines = new Map<string, RoutineDefinition[]>();
  roles = new Set<string>();
  loadedAt = 0;
  private loading: Promise<void> | undefined;

  constructor(private readonly sql: Sql) {}

  /** Reads the catalog again; concurrent callers share one read. */
  reload(): Promise<void> {
    this.loading ??= this.read().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  relation(name: string): Relation | undefined {
    return this.relations.get(`public.${name}`);
  }

  routine(name: string): RoutineDefinition[] {
    return this.routines.get(`public.${name}`) ?? [];
  }

  private async read(): Promise<void> {
    const relationRows = await this.sql<RelationRow[]>`
      select n.nspname as schema,
             c.relname as name,
             c.relkind::text as kind,
             coalesce(
               (select json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod))
                                order by a.attnum)
                  from pg_attribute a
                 where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped),
               '[]') as columns,
             coalesce(
               (select json_agg(a.attname order by array_position(i.indkey::int2[], a.attnum))
                  from pg_index i
                  join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
                 where i.indrelid = c.oid and i.indisprimary),
               '[]') as primary_key
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = any(${EXPOSED_SCHEMAS})
         and c.relkind in ('r', 'p', 'v', 'm', 'f')`;

    const routineRows = await this.sql<RoutineRow[]>`
      select n.nspname as schema,
             p.proname as name,
             p.proargnames as arg_names,
             p.proargmodes::text[] as arg_modes,
             array(select format_type(t.oid, null)
                     from unnest(p.proargtypes) with ordinality as a(type_oid, position)
                     join pg_type t on t.oid = a.type_oid
                    order by a.position) as arg_types,
             p.pronargdefaults::int as default_count,
             p.proretset as returns_set,
             format_type(p.prorettype, null) as return_type,
             p.provolatile::text as volatility
        from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = any(${EXPOSED_SCHEMAS})
         and p.prokind = 'f'`;

    const roleRows = await this.sql<{ rolname: string }[]>`
      select r.rolname
        from pg_roles r
       where exists (select 1 from pg_roles a where a.rolname = 'authenticator')
         and r.rolname <> 'authenticator'
         and pg_has_role('authenticator', r.oid, 'MEMBER')`;

    const relations = new Map<string, Relation>();
    for (const row of relationRows) {
      relations.set(`${row.schema}.${row.name}`, {
        schema: row.schema,
        name: row.name,
        kind: row.kind,
        columns: new Map(row.columns.map((column) => [column.name, column])),
        primaryKey: row.primary_key,
      });
    }

    const routines = new Map<string, RoutineDefinition[]>();
    for (const row of routineRows) {
      const definition = toRoutine(row);
      if (definition === undefined) continue;
      const key = `${row.schema}.${row.name}`;
      routines.set(key, [...(routines.get(key) ?? []), definition]);
    }

    this.relations = relations;
    this.routines = routines;
    this.roles = new Set(roleRows.map((row) => row.rolname));
    this.loadedAt = Date.now();
  }
}

/** Builds a routine definition, or undefined for functions that named arguments cannot call. */
function toRoutine(row: RoutineRow): RoutineDefinition | undefined {
  const names = row.arg_names ?? [];
  const modes = row.arg_modes ?? row.arg_types.map(() => 'i');
  const inputNames: string[] = [];
  modes.forEach((mode, index) => {
    if (mode === 'i' || mode === 'b' || mode === 'v') inputNames.push(names[index] ?? '');
  });

  if (inputNames.length !== row.arg_types.length) return undefined;
  if (inputNames.some((name) => name === '')) return undefined;

  return {
    schema: row.schema,
    name: row.name,
    arguments: inputNames.map((name, index) => ({ name, type: row.arg_types[index] as string })),
    defaultCount: row.default_count,
    returnsSet: row.returns_set,
    returnsVoid: row.return_type === 'void',
    volatility: row.volatility,
  };
}
