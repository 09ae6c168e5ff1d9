import { describe, expect, it } from 'vitest';

import { checkIdentity, formatSafetyNumber, ProtocolError, safetyNumber } from '../../src/protocol/index.ts';
import { smallAccount } from './helpers.ts';

describe('safetyNumber', () => {
  it('gives both sides the same 60 digits', async () => {
    const alice = { profile: 'alice', identityKey: (await smallAccount()).identity.publicKey };
    const bob = { profile: 'bob', identityKey: (await smallAccount()).identity.publicKey };

    const seenByAlice = await safetyNumber(alice, bob);
    const seenByBob = await safetyNumber(bob, alice);
    expect(seenByAlice).toMatch(/^\d{60}$/);
    expect(seenByBob).toBe(seenByAlice);
    expect(formatSafetyNumber(seenByAlice)).toMatch(/^(\d{5} ){11}\d{5}$/);
  });

  it('changes when either identity changes', async () => {
    const alice = { profile: 'alice', identityKey: (await smallAccount()).identity.publicKey };
    const bob = { profile: 'bob', identityKey: (await smallAccount()).identity.publicKey };
    const newBob = { profile: 'bob', identityKey: (await smallAccount()).identity.publicKey };

    const before = await safetyNumber(alice, bob);
    const after = await safetyNumber(alice, newBob);
    expect(after).not.toBe(before);
    // Alice's 30-digit half stays; the halves are sorted, so it may move to the other position.
    const halves = (digits: string) => [digits.slice(0, 30), digits.slice(30)];
    const shared = halves(before).filter((half) => halves(after).includes(half));
    expect(shared).toHaveLength(1);
  });

  it('rejects a malformed identity key', async () => {
    await expect(safetyNumber({ profile: 'a', identityKey: 'short' }, { profile: 'b', identityKey: 'short' })).rejects.toThrow(
      ProtocolError,
    );
  });
});

describe('checkIdentity', () => {
  it('applies the policy to a changed key', () => {
    expect(checkIdentity(null, 'key-a', 'reject')).toBe('new');
    expect(checkIdentity('key-a', 'key-a', 'reject')).toBe('unchanged');
    expect(checkIdentity('key-a', 'key-b', 'accept-and-warn')).toBe('changed');
    expect(() => checkIdentity('key-a', 'key-b', 'reject')).toThrow(expect.objectContaining({ code: 'untrusted_identity' }));
  });
});
