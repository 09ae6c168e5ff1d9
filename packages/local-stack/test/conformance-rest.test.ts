import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SupabaseClient } from '@supabase/supabase-js';
import { client, installFixture, signedInClient, startTarget, type TestTarget } from './support/stack.ts';

let target: TestTarget;
let owner: SupabaseClient;
let ownerId: string;
let stranger: SupabaseClient;

beforeAll(async () => {
  target = await startTarget();
  await installFixture(target.sql);
  ({ client: owner, userId: ownerId } = await signedInClient(target));
  ({ client: stranger } = await signedInClient(target));

  const rows = [
    { name: 'alpha', score: 10, note: 'first' },
    { name: 'beta', score: 20, note: null },
    { name: 'gamma', score: 30, note: 'Third, with comma' },
    { name: 'delta', score: null, note: 'fourth' },
    { name: 'epsilon', score: 50, note: 'fifth' },
  ];
  const { error } = await owner.from('conformance_items').insert(rows);
  if (error !== null) throw new Error(`fixture insert failed: ${error.message}`);
});

afterAll(async () => {
  await target?.close();
});

describe('REST select', () => {
  it('returns the listed columns only', async () => {
    const { data, error, status } = await owner.from('conformance_items').select('name,score').eq('name', 'alpha');
    expect(error).toBeNull();
    expect(status).toBe(200);
    expect(data).toEqual([{ name: 'alpha', score: 10 }]);
  });

  it('applies aliases in the column list', async () => {
    const { data } = await owner.from('conformance_items').select('label:name').eq('name', 'beta');
    expect(data).toEqual([{ label: 'beta' }]);
  });

  it.each([
    ['eq', (q: any) => q.eq('score', 20), ['beta']],
    ['neq', (q: any) => q.neq('score', 20), ['alpha', 'gamma', 'epsilon']],
    ['lt', (q: any) => q.lt('score', 30), ['alpha', 'beta']],
    ['lte', (q: any) => q.lte('score', 30), ['alpha', 'beta', 'gamma']],
    ['gt', (q: any) => q.gt('score', 30), ['epsilon']],
    ['gte', (q: any) => q.gte('score', 30), ['gamma', 'epsilon']],
    ['in', (q: any) => q.in('name', ['alpha', 'delta', 'nobody']), ['alpha', 'delta']],
    ['in with comma', (q: any) => q.in('note', ['Third, with comma']), ['gamma']],
    ['is null', (q: any) => q.is('score', null), ['delta']],
    ['not is null', (q: any) => q.not('note', 'is', null), ['alpha', 'gamma', 'delta', 'epsilon']],
    ['like', (q: any) => q.like('name', '%lta'), ['delta']],
    ['ilike', (q: any) => q.ilike('note', 'THIRD%'), ['gamma']],
  ])('filters with %s', async (_name, apply, expected) => {
    const { data, error } = await apply(owner.from('conformance_items').select('name')).order('id');
    expect(error).toBeNull();
    expect((data as { name: string }[]).map((row) => row.name)).toEqual(expected);
  });

  it('orders descending with nulls last', async () => {
    const { data } = await owner.from('conformance_items').select('name').order('score', { ascending: false, nullsFirst: false });
    expect(data?.map((row) => row.name)).toEqual(['epsilon', 'gamma', 'beta', 'alpha', 'delta']);
  });

  it('pages with limit and range', async () => {
    const limited = await owner.from('conformance_items').select('name').order('id').limit(2);
    expect(limited.data?.map((row) => row.name)).toEqual(['alpha', 'beta']);

    const ranged = await owner.from('conformance_items').select('name').order('id').range(1, 3);
    expect(ranged.data?.map((row) => row.name)).toEqual(['beta', 'gamma', 'delta']);
  });

  it('counts exactly with and without rows', async () => {
    const page = await owner.from('conformance_items').select('name', { count: 'exact' }).order('id').range(0, 1);
    expect(page.count).toBe(5);
    expect(page.data).toHaveLength(2);

    const head = await owner.from('conformance_items').select('*', { count: 'exact', head: true });
    expect(head.error).toBeNull();
    expect(head.count).toBe(5);
    expect(head.data).toBeNull();
  });

  it('returns one object for single and maybeSingle', async () => {
    const single = await owner.from('conformance_items').select('name').eq('name', 'gamma').single();
    expect(single.data).toEqual({ name: 'gamma' });

    const none = await owner.from('conformance_items').select('name').eq('name', 'nobody').maybeSingle();
    expect(none.error).toBeNull();
    expect(none.data).toBeNull();

    const many = await owner.from('conformance_items').select('name').single();
    expect(many.status).toBe(406);
    expect(many.error?.code).toBe('PGRST116');
  });
});

describe('REST writes', () => {
  it('inserts and returns the row with select', async () => {
    const { data, error, status } = await owner.from('conformance_items').insert({ name: 'inserted', score: 1 }).select('name,score,owner_id').single();
    expect(error).toBeNull();
    expect(status).toBe(201);
    expect(data).toEqual({ name: 'inserted', score: 1, owner_id: ownerId });
  });

  it('inserts with return=minimal', async () => {
    const { data, error, status } = await owner.from('conformance_items').insert({ name: 'minimal' });
    expect(error).toBeNull();
    expect(status).toBe(201);
    expect(data).toBeNull();
  });

  it('inserts in bulk', async () => {
    const { data, error } = await owner.from('conformance_items').insert([{ name: 'bulk-1', score: 1 }, { name: 'bulk-2', score: 2 }]).select('name');
    expect(error).toBeNull();
    expect(data).toEqual([{ name: 'bulk-1' }, { name: 'bulk-2' }]);
  });

  it('upserts with on_conflict and merge', async () => {
    const { data, error } = await owner.from('conformance_items').upsert({ name: 'bulk-1', score: 99 }, { onConflict: 'name' }).select('name,score');
    expect(error).toBeNull();
    expect(data).toEqual([{ name: 'bulk-1', score: 99 }]);
  });

  it('upserts with ignore-duplicates', async () => {
    const { data, error } = await owner
      .from('conformance_items')
      .upsert([{ name: 'bulk-2', score: 77 }, { name: 'bulk-3', score: 3 }], { onConflict: 'name', ignoreDuplicates: true })
      .select('name,score');
    expect(error).toBeNull();
    expect(data).toEqual([{ name: 'bulk-3', score: 3 }]);
    const kept = await owner.from('conformance_items').select('score').eq('name', 'bulk-2').single();
    expect(kept.data).toEqual({ score: 2 });
  });

  it('updates matching rows', async () => {
    const { data, error, status } = await owner.from('conformance_items').update({ note: 'changed' }).eq('name', 'bulk-3').select('name,note');
    expect(error).toBeNull();
    expect(status).toBe(200);
    expect(data).toEqual([{ name: 'bulk-3', note: 'changed' }]);
  });

  it('deletes matching rows and counts them', async () => {
    const { error, count, status } = await owner.from('conformance_items').delete({ count: 'exact' }).in('name', ['bulk-2', 'bulk-3']);
    expect(error).toBeNull();
    expect(status).toBe(204);
    expect(count).toBe(2);
  });

  it('maps a unique violation to 409', async () => {
    const { error, status } = await owner.from('conformance_items').insert({ name: 'alpha' });
    expect(status).toBe(409);
    expect(error?.code).toBe('23505');
  });

  it('maps a not-null violation to 400', async () => {
    const { error, status } = await owner.from('conformance_items').insert({ score: 5 });
    expect(status).toBe(400);
    expect(error?.code).toBe('23502');
  });
});

describe('REST functions', () => {
  it('calls a scalar function with named arguments', async () => {
    const { data, error } = await owner.rpc('conformance_add', { a: 2, b: 3 });
    expect(error).toBeNull();
    expect(data).toBe(5);
  });

  it('uses argument defaults', async () => {
    const { data } = await owner.rpc('conformance_add', { a: 2 });
    expect(data).toBe(12);
  });

  it('calls a set-returning function under RLS', async () => {
    const mine = await owner.rpc('conformance_items_named', { prefix: 'al' });
    expect(mine.data).toHaveLength(1);
    const theirs = await stranger.rpc('conformance_items_named', { prefix: 'al' });
    expect(theirs.data).toEqual([]);
  });

  it('calls a void function', async () => {
    const { data, error, status } = await owner.rpc('conformance_touch', { label: 'x' });
    expect(error).toBeNull();
    expect(status).toBe(204);
    expect(data).toBeNull();
  });

  it('calls a stable function with GET', async () => {
    const { data, error } = await owner.rpc('conformance_add', { a: 1, b: 1 }, { get: true });
    expect(error).toBeNull();
    expect(data).toBe(2);
  });

  it('sets the role and claims inside the transaction', async () => {
    const { data } = await owner.rpc('conformance_whoami');
    expect(data).toEqual({ role: 'authenticated', sub: ownerId, claims_role: 'authenticated' });
    const anonymous = await client(target).rpc('conformance_whoami');
    expect(anonymous.data).toEqual({ role: 'anon', sub: null, claims_role: 'anon' });
  });

  it.each([
    ['PT429', 429],
    ['PT403', 403],
    ['P0002', 404],
    ['P0001', 400],
    ['22023', 400],
  ])('maps SQLSTATE %s to HTTP %i', async (code, status) => {
    const result = await owner.rpc('conformance_fail', { code });
    expect(result.status).toBe(status);
    expect(result.error?.code).toBe(code);
    expect(result.error?.message).toContain(code);
  });

  it('returns 404 for an unknown function or argument', async () => {
    const unknown = await owner.rpc('conformance_missing', {});
    expect(unknown.status).toBe(404);
    expect(unknown.error?.code).toBe('PGRST202');
    const wrongArgument = await owner.rpc('conformance_add', { c: 1 });
    expect(wrongArgument.status).toBe(404);
  });
});

describe('REST row level security', () => {
  it('shows a stranger none of the owner rows', async () => {
    const { data, error } = await stranger.from('conformance_items').select('*');
    expect(error).toBeNull();
    expect(data).toEqual([]);
  });

  it('lets a stranger change nothing', async () => {
    const updated = await stranger.from('conformance_items').update({ note: 'hijacked' }).eq('name', 'alpha').select();
    expect(updated.data).toEqual([]);
    const deleted = await stranger.from('conformance_items').delete().eq('name', 'alpha').select();
    expect(deleted.data).toEqual([]);
    const row = await owner.from('conformance_items').select('note').eq('name', 'alpha').single();
    expect(row.data).toEqual({ note: 'first' });
  });

  it('rejects an insert for another owner with 403', async () => {
    const { error, status } = await stranger.from('conformance_items').insert({ name: 'forged', owner_id: ownerId });
    expect(status).toBe(403);
    expect(error?.code).toBe('42501');
  });

  it('refuses the anonymous caller with 401', async () => {
    const anonymous = client(target);
    const read = await anonymous.from('conformance_items').select('*');
    expect(read.status).toBe(401);
    expect(read.error?.code).toBe('42501');
    const write = await anonymous.from('conformance_items').insert({ name: 'anon' });
    expect(write.status).toBe(401);
  });

  it('lets the service role read every row', async () => {
    const { count } = await client(target, target.serviceRoleKey).from('conformance_items').select('*', { count: 'exact', head: true });
    expect(count).toBeGreaterThanOrEqual(5);
  });

  it('enforces the project policies on chat_participants', async () => {
    const anonymous = await client(target).from('chat_participants').select('*');
    expect(anonymous.status).toBe(401);
    const forged = await stranger.from('chat_participants').insert({ profile: 'forged-owner', owner_id: ownerId, payload: null });
    expect([401, 403]).toContain(forged.status);
  });
});

describe('REST errors', () => {
  it('returns 404 with PGRST205 for an unknown table', async () => {
    const { error, status } = await owner.from('no_such_table').select('*');
    expect(status).toBe(404);
    expect(error?.code).toBe('PGRST205');
  });

  it('returns 400 for an unknown column', async () => {
    const { error, status } = await owner.from('conformance_items').select('nope');
    expect(status).toBe(400);
    expect(error?.code).toBe('42703');
  });

  it('returns 400 with PGRST204 for an unknown insert column', async () => {
    const { error, status } = await owner.from('conformance_items').insert({ name: 'x', nope: 1 });
    expect(status).toBe(400);
    expect(error?.code).toBe('PGRST204');
  });

  it('returns 400 for a value of the wrong type', async () => {
    const { error, status } = await owner.from('conformance_items').select('*').eq('score', 'not-a-number');
    expect(status).toBe(400);
    expect(error?.code).toBe('22P02');
  });
});
