import { describe, expect, it } from 'vitest';
import { RestError } from '../../src/gateway/rest/errors.ts';
import { statusForSqlState } from '../../src/gateway/rest/errors.ts';
import { parseFilter, parseInList, parseOrder, parsePrefer, parseRange, parseSelect } from '../../src/gateway/rest/parse.ts';

describe('parseFilter', () => {
  it('splits operator and value', () => {
    expect(parseFilter('age', 'gte.18')).toEqual({ column: 'age', operator: 'gte', negated: false, values: ['18'] });
    expect(parseFilter('name', 'eq.a.b')).toEqual({ column: 'name', operator: 'eq', negated: false, values: ['a.b'] });
  });

  it('reads negation, is and like patterns', () => {
    expect(parseFilter('x', 'not.is.NULL')).toEqual({ column: 'x', operator: 'is', negated: true, values: ['null'] });
    expect(parseFilter('x', 'like.*abc*')).toEqual({ column: 'x', operator: 'like', negated: false, values: ['%abc%'] });
  });

  it.each([
    ['a;b', 'eq.1'],
    ['a', 'eq'],
    ['a', 'between.1'],
    ['a', 'fts.x'],
    ['a', 'eq(any).{1}'],
    ['or', '(a.eq.1)'],
    ['a.b', 'eq.1'],
    ['a', 'is.maybe'],
    ['"a"', 'eq.1'],
  ])('rejects %s=%s with a 400', (key, value) => {
    expect(() => parseFilter(key, value)).toThrow(RestError);
    try {
      parseFilter(key, value);
    } catch (error) {
      expect((error as RestError).status).toBe(400);
    }
  });
});

describe('parseInList', () => {
  it('handles quotes, commas and escapes', () => {
    expect(parseInList('(a, b,"c,d","e\\"f",)')).toEqual(['a', 'b', 'c,d', 'e"f', '']);
    expect(parseInList('()')).toEqual([]);
  });

  it('rejects unterminated quotes and missing parentheses', () => {
    expect(() => parseInList('("a)')).toThrow(RestError);
    expect(() => parseInList('a,b')).toThrow(RestError);
  });
});

describe('parseSelect and parseOrder', () => {
  it('reads columns, aliases and star', () => {
    expect(parseSelect('*')).toEqual({ star: true, items: [] });
    expect(parseSelect('a,label:b')).toEqual({ star: false, items: [{ column: 'a', alias: 'a' }, { column: 'b', alias: 'label' }] });
    expect(() => parseSelect('a,b(c)')).toThrow(RestError);
  });

  it('reads order modifiers', () => {
    expect(parseOrder('a.desc.nullslast,b')).toEqual([
      { column: 'a', descending: true, nulls: 'last' },
      { column: 'b', descending: false, nulls: undefined },
    ]);
    expect(() => parseOrder('a.sideways')).toThrow(RestError);
  });
});

describe('headers', () => {
  it('parses Range and rejects an inverted one with 416', () => {
    expect(parseRange('0-9')).toEqual({ offset: 0, limit: 10 });
    expect(parseRange('5-')).toEqual({ offset: 5, limit: undefined });
    expect(() => parseRange('9-0')).toThrow(expect.objectContaining({ status: 416 }));
  });

  it('parses Prefer', () => {
    expect(parsePrefer('return=representation, count=exact,resolution=ignore-duplicates')).toEqual({
      return: 'representation',
      count: 'exact',
      resolution: 'ignore-duplicates',
      missingDefault: false,
    });
  });
});

describe('statusForSqlState', () => {
  it.each([
    ['PT429', true, 429],
    ['P0002', true, 404],
    ['42501', false, 401],
    ['42501', true, 403],
    ['23505', true, 409],
    ['23503', true, 409],
    ['22P02', true, 400],
    ['42P01', true, 404],
    ['08006', true, 503],
    ['40001', true, 500],
  ])('maps %s (authenticated %s) to %i', (code, authenticated, status) => {
    expect(statusForSqlState(code, authenticated)).toBe(status);
  });
});
