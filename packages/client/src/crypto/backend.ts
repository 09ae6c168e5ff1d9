/**
 * Backend selection (internal, except `setCryptoBackend`).
 *
 * 'auto' uses the runtime's WebCrypto for each algorithm it offers and
 * @noble/* for the rest, with one exception: a symmetric operation on a short
 * input runs in JavaScript (@noble/*, and aes-gcm-js.ts for AES-GCM). Every
 * WebCrypto call is asynchronous, and in Node 20 one call costs 50 to 100 µs
 * however small its input. In JavaScript an HMAC over a chain key takes 4 to
 * 15 µs, an HKDF 13 to 23 µs and AES-256-GCM over 1 KiB 22 to 29 µs of CPU
 * (measured on the machine that bench/RESULTS.md describes).
 *
 * Support is probed once per algorithm with a real operation, because a
 * runtime may list an algorithm name and still reject it (Node 20 offers
 * X25519 and Ed25519, older browsers do not).
 */
import { CryptoError } from './errors.ts';

export type CryptoBackend = 'auto' | 'webcrypto' | 'noble';

/** Algorithm families that have a WebCrypto path. */
export type WebCryptoAlgorithm = 'X25519' | 'Ed25519' | 'HKDF' | 'HMAC' | 'SHA' | 'AES-GCM';

const BACKENDS: readonly CryptoBackend[] = ['auto', 'webcrypto', 'noble'];

/**
 * Smallest input, in bytes, for which 'auto' sends a symmetric operation to
 * WebCrypto. Below it @noble/* was faster in Node 20. The crossover was near
 * 16 KiB for SHA-2 and HMAC and near 4 KiB for AES-256-GCM.
 */
export const WEBCRYPTO_MIN_INPUT_BYTES: Record<WebCryptoAlgorithm, number> = {
  X25519: 0,
  Ed25519: 0,
  SHA: 16_384,
  HMAC: 16_384,
  HKDF: 16_384,
  'AES-GCM': 4_096,
};

let selectedBackend: CryptoBackend = 'auto';
const probes = new Map<WebCryptoAlgorithm, Promise<boolean>>();

/**
 * Selects where operations run. 'auto' (default) uses WebCrypto where the
 * runtime offers the algorithm, except for symmetric operations on inputs
 * below WEBCRYPTO_MIN_INPUT_BYTES, and JavaScript otherwise. 'webcrypto'
 * requires WebCrypto and throws CryptoError where it is missing. 'noble' never
 * uses WebCrypto. ML-KEM-1024 and the Ed25519 to X25519 conversions always run
 * on @noble/*, because WebCrypto does not define them.
 */
export function setCryptoBackend(backend: CryptoBackend): void {
  if (!BACKENDS.includes(backend)) {
    throw new CryptoError(`setCryptoBackend: backend must be one of ${BACKENDS.join(', ')}, got ${JSON.stringify(backend)}`);
  }
  selectedBackend = backend;
}

/** Returns the backend set by `setCryptoBackend` (internal, for tests and benchmarks). */
export function getCryptoBackend(): CryptoBackend {
  return selectedBackend;
}

/**
 * Resolves to true when `algorithm` should run on WebCrypto under the selected
 * backend. `inputBytes` is the size of the data the call processes.
 */
export async function useWebCrypto(algorithm: WebCryptoAlgorithm, inputBytes = 0): Promise<boolean> {
  if (selectedBackend === 'noble') {
    return false;
  }
  if (selectedBackend === 'auto' && inputBytes < WEBCRYPTO_MIN_INPUT_BYTES[algorithm]) {
    return false;
  }

  const supported = await isWebCryptoSupported(algorithm);
  if (!supported && selectedBackend === 'webcrypto') {
    throw new CryptoError(
      `WebCrypto in this runtime does not offer ${algorithm}; call setCryptoBackend('auto') or setCryptoBackend('noble')`,
    );
  }
  return supported;
}

/** Resolves to true when this runtime's WebCrypto performs `algorithm` (probed once, then cached). */
export function isWebCryptoSupported(algorithm: WebCryptoAlgorithm): Promise<boolean> {
  let probe = probes.get(algorithm);
  if (probe === undefined) {
    probe = runProbe(algorithm).then(
      () => true,
      () => false,
    );
    probes.set(algorithm, probe);
  }
  return probe;
}

async function runProbe(algorithm: WebCryptoAlgorithm): Promise<void> {
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) {
    throw new Error('crypto.subtle is not available');
  }
  const sample = new Uint8Array(32).fill(7);

  switch (algorithm) {
    case 'X25519': {
      const pair = (await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
      await subtle.exportKey('pkcs8', pair.privateKey);
      await subtle.deriveBits({ name: 'X25519', public: pair.publicKey }, pair.privateKey, 256);
      return;
    }
    case 'Ed25519': {
      const pair = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
      await subtle.exportKey('pkcs8', pair.privateKey);
      const signature = await subtle.sign({ name: 'Ed25519' }, pair.privateKey, sample);
      if (!(await subtle.verify({ name: 'Ed25519' }, pair.publicKey, signature, sample))) {
        throw new Error('Ed25519 signature did not verify');
      }
      return;
    }
    case 'HKDF': {
      const key = await subtle.importKey('raw', sample, 'HKDF', false, ['deriveBits']);
      await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-512', salt: sample, info: sample }, key, 256);
      return;
    }
    case 'HMAC': {
      const key = await subtle.importKey('raw', sample, { name: 'HMAC', hash: 'SHA-512' }, false, ['sign']);
      await subtle.sign('HMAC', key, sample);
      return;
    }
    case 'SHA': {
      await subtle.digest('SHA-256', sample);
      await subtle.digest('SHA-512', sample);
      return;
    }
    case 'AES-GCM': {
      const key = await subtle.importKey('raw', sample, 'AES-GCM', false, ['encrypt', 'decrypt']);
      await subtle.encrypt({ name: 'AES-GCM', iv: sample.subarray(0, 12), additionalData: sample }, key, sample);
      return;
    }
  }
}
