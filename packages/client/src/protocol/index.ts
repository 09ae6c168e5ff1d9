/**
 * Public surface of the protocol core: accounts and prekeys, sessions
 * (PQXDH + Double Ratchet), envelopes, safety numbers and state
 * serialization. See packages/client/README.md for the formats and the
 * error cases.
 */
export { ProtocolError, isProtocolError } from './errors.ts';
export type { ProtocolErrorCode, ProtocolErrorDetails } from './errors.ts';

export * as limits from './constants.ts';

export {
  createAccount,
  exportPrekeys,
  generateKemPrekeys,
  generateOneTimePrekeys,
  publicIdentity,
  rotatePrekeys,
} from './account.ts';
export type {
  AccountState,
  CreateAccountOptions,
  KemPrekeyUpload,
  OneTimePrekeyUpload,
  PrekeyUpload,
  PublicIdentity,
  SignedPrekeyUpload,
} from './account.ts';

export { encodeEnvelope, parseEnvelope } from './envelope.ts';
export type { Envelope, MessageEnvelope, PrekeyEnvelope } from './envelope.ts';

export { parseBundle } from './pqxdh.ts';
export type { PrekeyBundle } from './pqxdh.ts';

export { decryptEnvelope, emptySessionRecord, encryptMessage, initiateSession } from './session.ts';
export type {
  DecryptOptions,
  DecryptResult,
  EncryptResult,
  IdentityOptions,
  InitiateSessionOptions,
  InitiateSessionResult,
  SessionRecord,
  SessionState,
} from './session.ts';

export { checkIdentity, formatSafetyNumber, safetyNumber } from './identity.ts';
export type { IdentityPolicy, IdentityStatus } from './identity.ts';

export { deserializeAccount, deserializeSessionRecord, serializeAccount, serializeSessionRecord } from './state.ts';
