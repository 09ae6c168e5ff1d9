/**
 * Prekey maintenance: rotate the signed EC prekey and the last-resort KEM
 * prekey on their schedule, and replenish one-time prekeys when the server's
 * count falls below a threshold. New keys are committed to the store before
 * they are published, so the server never hands out a key whose private
 * half could be lost.
 */
import { generateKemPrekeys, generateOneTimePrekeys, rotatePrekeys, exportPrekeys } from '../protocol/account.ts';
import { PREKEY_BATCH_SIZE } from '../protocol/constants.ts';
import type { Store } from '../store/store.ts';
import type { ChatLogger } from './logger.ts';
import { ChatState } from './storage.ts';
import type { SupabaseTransport } from './transport.ts';

/** Settings of {@link maintainKeys}. */
export interface KeyMaintenanceOptions {
  /** Replenish a kind of one-time prekey when the server stores fewer than this. */
  threshold: number;
  /** Age in milliseconds after which the signed prekey and last-resort KEM prekey are replaced. */
  rotationMs: number;
}

/** Outcome of {@link maintainKeys}. */
export interface KeyMaintenanceResult {
  rotated: boolean;
  oneTimePrekeysAdded: number;
  kemPrekeysAdded: number;
}

/** Rotates and replenishes the profile's prekeys as needed, then publishes what changed. */
export async function maintainKeys(
  store: Store,
  transport: SupabaseTransport,
  profile: string,
  options: KeyMaintenanceOptions,
  logger: ChatLogger,
): Promise<KeyMaintenanceResult> {
  const rotation = await store.transaction(async (tx) => {
    const state = new ChatState(tx);
    const account = await state.account();
    if (account === null) {
      throw new Error('no account found in the store; register the profile again');
    }
    const result = await rotatePrekeys(account, { rotationMs: options.rotationMs });
    if (result.rotated) {
      await state.setAccount(result.account);
    }
    return result;
  });

  if (rotation.rotated) {
    const upload = exportPrekeys(rotation.account);
    await transport.publishKeys({
      action: 'publish',
      signedPrekey: upload.signedPrekey,
      lastResortKemPrekey: upload.lastResortKemPrekey,
    });
    logger.info({ profile, signedPrekeyId: upload.signedPrekey.keyId }, 'signed prekey rotated');
  }

  const counts = await transport.prekeyCounts();
  const needOneTime = counts.oneTimePrekeys < options.threshold;
  const needKem = counts.kemPrekeys < options.threshold;
  if (!needOneTime && !needKem) {
    return { rotated: rotation.rotated, oneTimePrekeysAdded: 0, kemPrekeysAdded: 0 };
  }

  const uploads = await store.transaction(async (tx) => {
    const state = new ChatState(tx);
    let account = await state.account();
    if (account === null) {
      throw new Error('no account found in the store; register the profile again');
    }

    let oneTimePrekeys: Awaited<ReturnType<typeof generateOneTimePrekeys>>['prekeys'] = [];
    let kemPrekeys: Awaited<ReturnType<typeof generateKemPrekeys>>['prekeys'] = [];
    if (needOneTime) {
      const generated = await generateOneTimePrekeys(account, PREKEY_BATCH_SIZE);
      account = generated.account;
      oneTimePrekeys = generated.prekeys;
    }
    if (needKem) {
      const generated = await generateKemPrekeys(account, PREKEY_BATCH_SIZE);
      account = generated.account;
      kemPrekeys = generated.prekeys;
    }
    await state.setAccount(account);
    return { oneTimePrekeys, kemPrekeys };
  });

  await transport.publishKeys({
    action: 'publish',
    ...(uploads.oneTimePrekeys.length > 0 ? { oneTimePrekeys: uploads.oneTimePrekeys } : {}),
    ...(uploads.kemPrekeys.length > 0 ? { kemPrekeys: uploads.kemPrekeys } : {}),
  });
  logger.info(
    {
      profile,
      serverOneTimePrekeys: counts.oneTimePrekeys,
      serverKemPrekeys: counts.kemPrekeys,
      oneTimePrekeysAdded: uploads.oneTimePrekeys.length,
      kemPrekeysAdded: uploads.kemPrekeys.length,
    },
    'one-time prekeys replenished',
  );
  return { rotated: rotation.rotated, oneTimePrekeysAdded: uploads.oneTimePrekeys.length, kemPrekeysAdded: uploads.kemPrekeys.length };
}
