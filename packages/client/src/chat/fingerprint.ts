/**
 * This profile's own half of its safety numbers, for showing on the
 * profile's own screen.
 */
import type { AccountState } from '../protocol/account.ts';
import { formatSafetyNumber, safetyNumber } from '../protocol/identity.ts';
import { ChatError } from './errors.ts';

/** Digits in one side's half of a safety number. */
const HALF_DIGITS = 30;

/** One profile's half of every safety number it has with contacts. */
export interface OwnSafetyCode {
  /** 30 digits. */
  digits: string;
  /** 6 groups of 5 digits, as people compare them. */
  formatted: string;
  /** The identity key the code was computed from. */
  identityKey: string;
}

/**
 * Computes the half of every safety number that belongs to `profile` with
 * the identity key of `account`. A contact's 60-digit safety number with this
 * profile starts or ends with these 30 digits, because the two halves are
 * sorted.
 *
 * @throws ChatError `invalid_argument` for an account without an identity key.
 */
export async function ownSafetyCode(profile: string, account: Pick<AccountState, 'identity'>): Promise<OwnSafetyCode> {
  const identityKey = account.identity?.publicKey;
  if (typeof identityKey !== 'string') {
    throw new ChatError('invalid_argument', 'the account has no identity key: pass the account loaded from the store (loadAccount)');
  }
  const self = { profile, identityKey };

  // With both sides equal, the 60 digits are this side's half twice.
  // NOTE: this hashes the half twice (2 x 5200 SHA-512 rounds) because the protocol core exports no single-half function.
  const digits = (await safetyNumber(self, self)).slice(0, HALF_DIGITS);
  return { digits, formatted: formatSafetyNumber(digits), identityKey };
}
