/**
 * The one error type of the crypto module. Its message names the operation,
 * the parameter and the expected shape (lengths, types), never the bytes of a
 * key, a secret or a plaintext.
 */
export class CryptoError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CryptoError';
  }
}
