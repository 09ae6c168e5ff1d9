import { describe, expect, it } from 'vitest';

import { ed25519 } from '../../src/crypto/index.ts';
import {
  createAccount,
  deserializeAccount,
  deserializeSessionRecord,
  exportPrekeys,
  generateKemPrekeys,
  generateOneTimePrekeys,
  limits,
  ProtocolError,
  publicIdentity,
  rotatePrekeys,
  serializeAccount,
  serializeSessionRecord,
} from '../../src/protocol/index.ts';
import { concatBytes, fromBase64Url } from '../../src/protocol/encoding.ts';
import { establishedPair, smallAccount } from './helpers.ts';

const DAY = 24 * 60 * 60 * 1000;

describe('createAccount', () => {
  it('issues batches of 100 prekeys with increasing ids', async () => {
    const account = await createAccount({ now: 0 });
    const upload = exportPrekeys(account);

    expect(upload.oneTimePrekeys.map((key) => key.keyId)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(upload.kemPrekeys.map((key) => key.keyId)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
    expect(upload.lastResortKemPrekey.keyId).toBe(1);
    expect(upload.signedPrekey.keyId).toBe(1);

    const more = await generateOneTimePrekeys(account);
    expect(more.prekeys.map((key) => key.keyId)).toEqual(Array.from({ length: 100 }, (_, i) => i + 101));
    const moreKem = await generateKemPrekeys(more.account, 2);
    expect(moreKem.prekeys.map((key) => key.keyId)).toEqual([102, 103]);
    expect(moreKem.account.oneTimePrekeys).toHaveLength(200);
    expect(account.oneTimePrekeys).toHaveLength(100);
  });

  it('exports keys in the published shapes and lengths', async () => {
    const account = await smallAccount();
    const identity = publicIdentity(account);
    expect(Object.keys(identity).sort()).toEqual(['identityKey', 'v']);
    expect(identity.v).toBe(1);
    expect(identity.identityKey).toHaveLength(43);

    const upload = exportPrekeys(account);
    expect(Object.keys(upload.signedPrekey).sort()).toEqual(['keyId', 'publicKey', 'signature']);
    expect(upload.signedPrekey.publicKey).toHaveLength(43);
    expect(upload.signedPrekey.signature).toHaveLength(86);
    expect(Object.keys(upload.oneTimePrekeys[0]!).sort()).toEqual(['keyId', 'publicKey']);
    expect(upload.kemPrekeys[0]!.publicKey).toHaveLength(2091);
    expect(upload.lastResortKemPrekey.publicKey).toHaveLength(2091);
    expect(JSON.stringify(upload)).not.toContain(account.identity.privateKey);
  });

  it('signs 0x05 || key and 0x08 || key with the identity', async () => {
    const account = await smallAccount();
    const identityKey = fromBase64Url(account.identity.publicKey, 'identity');
    const upload = exportPrekeys(account);

    const signed = upload.signedPrekey;
    const ecMessage = concatBytes(Uint8Array.of(0x05), fromBase64Url(signed.publicKey, 'key'));
    expect(await ed25519.verify(identityKey, ecMessage, fromBase64Url(signed.signature, 'signature'))).toBe(true);

    for (const kem of [...upload.kemPrekeys, upload.lastResortKemPrekey]) {
      const kemMessage = concatBytes(Uint8Array.of(0x08), fromBase64Url(kem.publicKey, 'key'));
      expect(kemMessage).toHaveLength(1569);
      expect(await ed25519.verify(identityKey, kemMessage, fromBase64Url(kem.signature, 'signature'))).toBe(true);
    }
  });

  it('rejects bad batch sizes', async () => {
    const account = await smallAccount();
    for (const count of [-1, 1.5, 1001, Number.NaN]) {
      await expect(generateOneTimePrekeys(account, count)).rejects.toThrow(ProtocolError);
    }
  });
});

describe('rotatePrekeys', () => {
  it('rotates after 7 days and keeps the previous key for the grace period', async () => {
    const account = await createAccount({ now: 0, oneTimePrekeys: 0, kemPrekeys: 0 });

    const early = await rotatePrekeys(account, { now: 6 * DAY });
    expect(early.rotated).toBe(false);
    expect(early.account).toEqual(account);

    const rotated = await rotatePrekeys(account, { now: 7 * DAY });
    expect(rotated.rotated).toBe(true);
    expect(rotated.account.signedPrekeys.map((key) => [key.keyId, key.replacedAt])).toEqual([
      [1, 7 * DAY],
      [2, null],
    ]);
    expect(rotated.account.lastResortKemPrekeys.map((key) => key.keyId)).toEqual([1, 2]);
    expect(exportPrekeys(rotated.account).signedPrekey.keyId).toBe(2);

    const graceOver = await rotatePrekeys(rotated.account, { now: 7 * DAY + limits.SIGNED_PREKEY_GRACE_MS - 1, rotationMs: Infinity });
    expect(graceOver.account.signedPrekeys).toHaveLength(2);
    const expired = await rotatePrekeys(rotated.account, { now: 7 * DAY + limits.SIGNED_PREKEY_GRACE_MS, rotationMs: Infinity });
    expect(expired.account.signedPrekeys.map((key) => key.keyId)).toEqual([2]);
    expect(expired.account.lastResortKemPrekeys.map((key) => key.keyId)).toEqual([2]);
  });
});

describe('state serialization', () => {
  it('round-trips accounts and session records without loss', async () => {
    const { bob, bobRecord } = await establishedPair();
    expect(deserializeAccount(serializeAccount(bob))).toEqual(bob);
    expect(deserializeAccount(JSON.parse(serializeAccount(bob)))).toEqual(bob);
    expect(deserializeSessionRecord(serializeSessionRecord(bobRecord))).toEqual(bobRecord);
  });

  it('rejects damaged and foreign states', async () => {
    const { bob, bobRecord } = await establishedPair();
    const cases: Array<[unknown, string]> = [
      ['{', 'invalid_state'],
      [{ hello: 'world' }, 'invalid_state'],
      [bobRecord, 'invalid_state'],
      [{ ...bob, v: 2 }, 'unsupported_version'],
      [{ ...bob, extra: true }, 'invalid_state'],
      [{ ...bob, identity: { ...bob.identity, privateKey: 'short' } }, 'invalid_state'],
      [{ ...bob, signedPrekeys: [] }, 'invalid_state'],
    ];
    for (const [input, code] of cases) {
      expect(() => deserializeAccount(input)).toThrow(expect.objectContaining({ code }));
    }

    const session = bobRecord.sessions[0]!;
    const badSession = { ...bobRecord, sessions: [{ ...session, ratchet: { ...session.ratchet, rootKey: 'x' } }] };
    expect(() => deserializeSessionRecord(badSession)).toThrow(expect.objectContaining({ code: 'invalid_state' }));
    expect(() => deserializeSessionRecord(bob)).toThrow(expect.objectContaining({ code: 'invalid_state' }));
  });

  it('keeps private keys out of error messages', async () => {
    const account = await smallAccount();
    const damaged = { ...account, identity: { publicKey: account.identity.publicKey, privateKey: `${account.identity.privateKey}!` } };
    try {
      deserializeAccount(damaged);
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('identity.privateKey');
      expect((error as Error).message).not.toContain(account.identity.privateKey);
    }
  });
});
