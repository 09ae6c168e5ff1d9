/**
 * Verification of every signed prekey in a `publish-keys` request against
 * the identity key, before anything is stored.
 */
import { ApiError } from "./errors.ts";
import { decodeBase64Url, type SignedKeyType, verifyPrekeySignature } from "./keys.ts";
import type { KemPrekey, SignedPrekey } from "./schemas.ts";

/** The signed keys of a publish or reset request. */
export interface SignedKeys {
  signedPrekey?: SignedPrekey | undefined;
  kemPrekeys?: KemPrekey[] | undefined;
  lastResortKemPrekey?: KemPrekey | undefined;
}

interface SignedEntry {
  field: string;
  keyType: SignedKeyType;
  key: SignedPrekey | KemPrekey;
}

function listSignedKeys(keys: SignedKeys): SignedEntry[] {
  const entries: SignedEntry[] = [];

  if (keys.signedPrekey !== undefined) {
    entries.push({ field: "signedPrekey", keyType: "x25519", key: keys.signedPrekey });
  }

  keys.kemPrekeys?.forEach((key, index) => {
    entries.push({ field: `kemPrekeys[${index}]`, keyType: "mlKem1024", key });
  });

  if (keys.lastResortKemPrekey !== undefined) {
    entries.push({ field: "lastResortKemPrekey", keyType: "mlKem1024", key: keys.lastResortKemPrekey });
  }

  return entries;
}

/**
 * Lists the fields whose signature does not verify against `identityKey`,
 * in request order. Key strings must already have passed the request schema.
 */
export function findInvalidSignatures(identityKey: Uint8Array, keys: SignedKeys): string[] {
  const invalid: string[] = [];

  for (const entry of listSignedKeys(keys)) {
    const publicKey = decodeBase64Url(entry.key.publicKey);
    const signature = decodeBase64Url(entry.key.signature);
    const valid = publicKey !== undefined &&
      signature !== undefined &&
      verifyPrekeySignature(identityKey, entry.keyType, publicKey, signature);

    if (!valid) {
      invalid.push(entry.field);
    }
  }

  return invalid;
}

/**
 * Throws 422 `invalid_signature` naming the first key whose signature does
 * not verify, so a request with any bad signature stores nothing.
 */
export function assertSignaturesValid(identityKey: Uint8Array, keys: SignedKeys): void {
  const invalid = findInvalidSignatures(identityKey, keys);

  if (invalid.length === 0) {
    return;
  }

  const [first] = invalid;
  const typeByte = first!.startsWith("signedPrekey") ? "0x05" : "0x08";
  const others = invalid.length > 1 ? ` (${invalid.length} keys in total fail)` : "";
  throw new ApiError(
    422,
    "invalid_signature",
    `${first}.signature does not verify against the identity key${others}; sign ` +
      `${typeByte} || publicKey with the Ed25519 identity key of this profile`,
  );
}
