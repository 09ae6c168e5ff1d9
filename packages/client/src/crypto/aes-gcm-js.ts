/**
 * AES-256-GCM in JavaScript for one-shot messages (internal).
 *
 * Follows NIST SP 800-38D: the hash subkey H = CIPH_K(0^128) (section 6.4),
 * the pre-counter block J0 = IV || 0^31 || 1 for a 96-bit IV (section 7.1,
 * step 2), GCTR from inc32(J0) (section 6.5) and the tag
 * T = CIPH_K(J0) XOR GHASH_H(A || 0^v || C || 0^u || [len(A)]64 || [len(C)]64).
 * The block cipher is AES-256 as in FIPS 197.
 *
 * Why not @noble/ciphers: the Double Ratchet encrypts every message under a
 * fresh key, so the per-key setup dominates. For 1 KiB under a new key,
 * @noble/ciphers spent about 53 µs (CPU time, Node 20, the benchmark machine),
 * a third of it building its GHASH tables. This file builds a 4 KiB table per
 * key with 256 XORs and multiplies with 8-bit steps (Shoup's method), and
 * generates the AES and reduction tables once at load from their definitions,
 * so no constant is typed in.
 *
 * The same timing caveat as for @noble/ciphers applies: table lookups indexed
 * by secret bytes leak through cache timing. Every message key encrypts one
 * message only, which limits what an observer can collect under one key.
 * The tests compare this file with @noble/ciphers and WebCrypto on random
 * inputs and with the GCM test vectors.
 */

// ---------------------------------------------------------------------------
// Tables, generated at load
// ---------------------------------------------------------------------------

/** Multiplies by x in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (FIPS 197 section 4.2.1). */
function xtime(value: number): number {
  return ((value << 1) ^ (value & 0x80 ? 0x1b : 0)) & 0xff;
}

/** The AES S-box (FIPS 197 section 5.1.1): the multiplicative inverse followed by the affine transformation. */
const SBOX = new Uint8Array(256);
/** Encryption tables combining SubBytes, ShiftRows and MixColumns for one byte position each. */
const T0 = new Uint32Array(256);
const T1 = new Uint32Array(256);
const T2 = new Uint32Array(256);
const T3 = new Uint32Array(256);

(() => {
  // Powers of the generator 3 give a logarithm table for inverses.
  const exp = new Uint8Array(256);
  const log = new Uint8Array(256);
  let power = 1;
  for (let i = 0; i < 255; i++) {
    exp[i] = power;
    log[power] = i;
    power ^= xtime(power);
  }

  for (let x = 0; x < 256; x++) {
    const inverse = x === 0 ? 0 : exp[(255 - log[x]!) % 255]!;
    let s = inverse;
    for (let shift = 1; shift <= 4; shift++) {
      s ^= ((inverse << shift) | (inverse >>> (8 - shift))) & 0xff;
    }
    SBOX[x] = s ^ 0x63;
  }

  for (let x = 0; x < 256; x++) {
    const s = SBOX[x]!;
    const s2 = xtime(s);
    const s3 = s2 ^ s;
    const word = ((s2 << 24) | (s << 16) | (s << 8) | s3) >>> 0;
    T0[x] = word;
    T1[x] = ((word >>> 8) | (word << 24)) >>> 0;
    T2[x] = ((word >>> 16) | (word << 16)) >>> 0;
    T3[x] = ((word >>> 24) | (word << 8)) >>> 0;
  }
})();

/**
 * GHASH reduction for an 8-bit shift: REDUCE_8[b] is what multiplying by x^8
 * adds to the top word when the low byte b is shifted out. Computed by
 * shifting one bit at a time with R = 0xE1 || 0^120 (SP 800-38D section 6.3).
 */
const REDUCE_8 = new Uint32Array(256);

(() => {
  for (let b = 0; b < 256; b++) {
    // Z = b in the lowest byte, then eight single-bit multiplications by x.
    let z0 = 0;
    let z1 = 0;
    let z2 = 0;
    let z3 = b;
    for (let bit = 0; bit < 8; bit++) {
      const carry = z3 & 1;
      z3 = ((z3 >>> 1) | (z2 << 31)) >>> 0;
      z2 = ((z2 >>> 1) | (z1 << 31)) >>> 0;
      z1 = ((z1 >>> 1) | (z0 << 31)) >>> 0;
      z0 = ((z0 >>> 1) ^ (carry ? 0xe1000000 : 0)) >>> 0;
    }
    // The byte has left Z entirely and its reduction stays in the top word.
    if (z1 !== 0 || z2 !== 0 || z3 !== 0) {
      throw new Error('GHASH reduction table: reduction reached below the top word');
    }
    REDUCE_8[b] = z0;
  }
})();

// ---------------------------------------------------------------------------
// AES-256 (FIPS 197)
// ---------------------------------------------------------------------------

const ROUNDS = 14;

/** KeyExpansion for Nk = 8 (FIPS 197 section 5.2): 60 big-endian round key words. */
function expandKey(key: Uint8Array): Uint32Array {
  const w = new Uint32Array(4 * (ROUNDS + 1));
  for (let i = 0; i < 8; i++) {
    w[i] = readWord(key, 4 * i);
  }

  let rcon = 1;
  for (let i = 8; i < w.length; i++) {
    let temp = w[i - 1]!;
    if (i % 8 === 0) {
      temp = subWord(((temp << 8) | (temp >>> 24)) >>> 0) ^ (rcon << 24);
      rcon = xtime(rcon);
    } else if (i % 8 === 4) {
      temp = subWord(temp);
    }
    w[i] = (w[i - 8]! ^ temp) >>> 0;
  }
  return w;
}

function subWord(word: number): number {
  return ((SBOX[word >>> 24]! << 24) | (SBOX[(word >>> 16) & 0xff]! << 16) | (SBOX[(word >>> 8) & 0xff]! << 8) | SBOX[word & 0xff]!) >>> 0;
}

/** Encrypts one block given as four big-endian words into `out` (FIPS 197 section 5.1). */
function encryptBlock(w: Uint32Array, in0: number, in1: number, in2: number, in3: number, out: Uint32Array): void {
  let s0 = in0 ^ w[0]!;
  let s1 = in1 ^ w[1]!;
  let s2 = in2 ^ w[2]!;
  let s3 = in3 ^ w[3]!;

  let k = 4;
  for (let round = 1; round < ROUNDS; round++) {
    const t0 = T0[s0 >>> 24]! ^ T1[(s1 >>> 16) & 0xff]! ^ T2[(s2 >>> 8) & 0xff]! ^ T3[s3 & 0xff]! ^ w[k]!;
    const t1 = T0[s1 >>> 24]! ^ T1[(s2 >>> 16) & 0xff]! ^ T2[(s3 >>> 8) & 0xff]! ^ T3[s0 & 0xff]! ^ w[k + 1]!;
    const t2 = T0[s2 >>> 24]! ^ T1[(s3 >>> 16) & 0xff]! ^ T2[(s0 >>> 8) & 0xff]! ^ T3[s1 & 0xff]! ^ w[k + 2]!;
    const t3 = T0[s3 >>> 24]! ^ T1[(s0 >>> 16) & 0xff]! ^ T2[(s1 >>> 8) & 0xff]! ^ T3[s2 & 0xff]! ^ w[k + 3]!;
    s0 = t0;
    s1 = t1;
    s2 = t2;
    s3 = t3;
    k += 4;
  }

  // The last round has no MixColumns.
  out[0] = ((SBOX[s0 >>> 24]! << 24) | (SBOX[(s1 >>> 16) & 0xff]! << 16) | (SBOX[(s2 >>> 8) & 0xff]! << 8) | SBOX[s3 & 0xff]!) ^ w[k]!;
  out[1] = ((SBOX[s1 >>> 24]! << 24) | (SBOX[(s2 >>> 16) & 0xff]! << 16) | (SBOX[(s3 >>> 8) & 0xff]! << 8) | SBOX[s0 & 0xff]!) ^ w[k + 1]!;
  out[2] = ((SBOX[s2 >>> 24]! << 24) | (SBOX[(s3 >>> 16) & 0xff]! << 16) | (SBOX[(s0 >>> 8) & 0xff]! << 8) | SBOX[s1 & 0xff]!) ^ w[k + 2]!;
  out[3] = ((SBOX[s3 >>> 24]! << 24) | (SBOX[(s0 >>> 16) & 0xff]! << 16) | (SBOX[(s1 >>> 8) & 0xff]! << 8) | SBOX[s2 & 0xff]!) ^ w[k + 3]!;
}

// ---------------------------------------------------------------------------
// GHASH (SP 800-38D section 6.4)
// ---------------------------------------------------------------------------

/**
 * Builds M[b] = b * H for every byte b, four words per entry. In GCM's bit
 * order the byte's most significant bit is the coefficient of x^0, so
 * M[0x80] = H and each lower bit is one more multiplication by x.
 */
function multiplicationTable(h: Uint32Array): Uint32Array {
  const table = new Uint32Array(256 * 4);
  let v0 = h[0]!;
  let v1 = h[1]!;
  let v2 = h[2]!;
  let v3 = h[3]!;

  for (let bit = 0x80; bit > 0; bit >>>= 1) {
    table[bit * 4] = v0;
    table[bit * 4 + 1] = v1;
    table[bit * 4 + 2] = v2;
    table[bit * 4 + 3] = v3;

    // V = V * x: shift right by one bit and reduce with R = 0xE1 || 0^120.
    const carry = v3 & 1;
    v3 = ((v3 >>> 1) | (v2 << 31)) >>> 0;
    v2 = ((v2 >>> 1) | (v1 << 31)) >>> 0;
    v1 = ((v1 >>> 1) | (v0 << 31)) >>> 0;
    v0 = ((v0 >>> 1) ^ (carry ? 0xe1000000 : 0)) >>> 0;
  }

  // Multiplication by H is linear, so the other entries are XORs of the single-bit ones.
  for (let high = 2; high < 256; high <<= 1) {
    for (let low = 1; low < high; low++) {
      const index = (high + low) * 4;
      table[index] = table[high * 4]! ^ table[low * 4]!;
      table[index + 1] = table[high * 4 + 1]! ^ table[low * 4 + 1]!;
      table[index + 2] = table[high * 4 + 2]! ^ table[low * 4 + 2]!;
      table[index + 3] = table[high * 4 + 3]! ^ table[low * 4 + 3]!;
    }
  }
  return table;
}

/** Running GHASH state Y, updated with whole 16-byte blocks (the caller zero-pads). */
class Ghash {
  private y0 = 0;
  private y1 = 0;
  private y2 = 0;
  private y3 = 0;
  // Accumulator Z of the multiplication in progress.
  private z0 = 0;
  private z1 = 0;
  private z2 = 0;
  private z3 = 0;

  constructor(private readonly table: Uint32Array) {}

  /** Absorbs `bytes` as blocks, zero-padding the last one. */
  update(bytes: Uint8Array): void {
    const whole = bytes.length - (bytes.length % 16);
    for (let offset = 0; offset < whole; offset += 16) {
      this.block(readWord(bytes, offset), readWord(bytes, offset + 4), readWord(bytes, offset + 8), readWord(bytes, offset + 12));
    }
    if (whole < bytes.length) {
      const padded = new Uint8Array(16);
      padded.set(bytes.subarray(whole));
      this.block(readWord(padded, 0), readWord(padded, 4), readWord(padded, 8), readWord(padded, 12));
    }
  }

  /** Y = (Y XOR X) * H, by Horner's rule over the 16 bytes of Y XOR X, last byte first. */
  block(x0: number, x1: number, x2: number, x3: number): void {
    const a0 = this.y0 ^ x0;
    const a1 = this.y1 ^ x1;
    const a2 = this.y2 ^ x2;
    const a3 = this.y3 ^ x3;

    this.z0 = 0;
    this.z1 = 0;
    this.z2 = 0;
    this.z3 = 0;
    this.absorbWord(a3);
    this.absorbWord(a2);
    this.absorbWord(a1);
    this.absorbWord(a0);

    this.y0 = this.z0;
    this.y1 = this.z1;
    this.y2 = this.z2;
    this.y3 = this.z3;
  }

  /** Runs four Horner steps, Z = Z * x^8 XOR M[byte], over the bytes of `word` from the lowest. */
  private absorbWord(word: number): void {
    const table = this.table;
    let z0 = this.z0;
    let z1 = this.z1;
    let z2 = this.z2;
    let z3 = this.z3;

    for (let shift = 0; shift < 32; shift += 8) {
      const shiftedOut = z3 & 0xff;
      z3 = (z3 >>> 8) | (z2 << 24);
      z2 = (z2 >>> 8) | (z1 << 24);
      z1 = (z1 >>> 8) | (z0 << 24);
      z0 = (z0 >>> 8) ^ REDUCE_8[shiftedOut]!;

      const entry = ((word >>> shift) & 0xff) * 4;
      z0 ^= table[entry]!;
      z1 ^= table[entry + 1]!;
      z2 ^= table[entry + 2]!;
      z3 ^= table[entry + 3]!;
    }

    this.z0 = z0;
    this.z1 = z1;
    this.z2 = z2;
    this.z3 = z3;
  }

  /** Zeroes the table, which is derived from the secret hash subkey H, and the state. */
  wipe(): void {
    this.table.fill(0);
    this.y0 = 0;
    this.y1 = 0;
    this.y2 = 0;
    this.y3 = 0;
  }

  /** Absorbs the length block [len(A)]64 || [len(C)]64 and returns Y as four words. */
  finish(associatedDataLength: number, ciphertextLength: number): [number, number, number, number] {
    const aBits = associatedDataLength * 8;
    const cBits = ciphertextLength * 8;
    this.block(Math.floor(aBits / 0x100000000), aBits >>> 0, Math.floor(cBits / 0x100000000), cBits >>> 0);
    return [this.y0 >>> 0, this.y1 >>> 0, this.y2 >>> 0, this.y3 >>> 0];
  }
}

// ---------------------------------------------------------------------------
// GCM
// ---------------------------------------------------------------------------

interface GcmContext {
  roundKeys: Uint32Array;
  ghash: Ghash;
  /** E(K, J0), the mask of the tag. */
  tagMask: Uint32Array;
  /** Words of J0; the last one is the counter. */
  j0: [number, number, number];
}

function setUp(key: Uint8Array, nonce: Uint8Array): GcmContext {
  const roundKeys = expandKey(key);
  const h = new Uint32Array(4);
  encryptBlock(roundKeys, 0, 0, 0, 0, h);

  const j0: [number, number, number] = [readWord(nonce, 0), readWord(nonce, 4), readWord(nonce, 8)];
  const tagMask = new Uint32Array(4);
  encryptBlock(roundKeys, j0[0], j0[1], j0[2], 1, tagMask);

  const context = { roundKeys, ghash: new Ghash(multiplicationTable(h)), tagMask, j0 };
  h.fill(0);
  return context;
}

/** GCTR from inc32(J0) (SP 800-38D section 6.5): XORs the key stream into `input`, writing `output`. */
function counterMode(context: GcmContext, input: Uint8Array, output: Uint8Array): void {
  const stream = new Uint32Array(4);
  const [n0, n1, n2] = context.j0;
  let counter = 1;

  for (let offset = 0; offset < input.length; offset += 16) {
    counter = (counter + 1) >>> 0;
    encryptBlock(context.roundKeys, n0, n1, n2, counter, stream);

    const end = Math.min(offset + 16, input.length);
    for (let i = offset; i < end; i++) {
      const position = i - offset;
      const streamByte = (stream[position >>> 2]! >>> (8 * (3 - (position & 3)))) & 0xff;
      output[i] = input[i]! ^ streamByte;
    }
  }
  stream.fill(0);
}

function computeTag(context: GcmContext, associatedData: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  context.ghash.update(associatedData);
  context.ghash.update(ciphertext);
  const s = context.ghash.finish(associatedData.length, ciphertext.length);

  const tag = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    writeWord(tag, 4 * i, s[i]! ^ context.tagMask[i]!);
  }
  return tag;
}

function cleanUp(context: GcmContext): void {
  context.roundKeys.fill(0);
  context.tagMask.fill(0);
  context.ghash.wipe();
}

/** Encrypts with a 32-byte key and a 12-byte nonce; returns ciphertext || 16-byte tag. Inputs are checked by the caller. */
export function gcmEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Uint8Array {
  const context = setUp(key, nonce);
  const output = new Uint8Array(plaintext.length + 16);
  const ciphertext = output.subarray(0, plaintext.length);

  counterMode(context, plaintext, ciphertext);
  output.set(computeTag(context, associatedData, ciphertext), plaintext.length);
  cleanUp(context);
  return output;
}

/** Verifies the tag, then decrypts; returns null when authentication fails. Inputs are checked by the caller. */
export function gcmDecrypt(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Uint8Array | null {
  const context = setUp(key, nonce);
  const ciphertext = sealed.subarray(0, sealed.length - 16);
  const expected = computeTag(context, associatedData, ciphertext);
  const received = sealed.subarray(sealed.length - 16);

  let difference = 0;
  for (let i = 0; i < 16; i++) {
    difference |= expected[i]! ^ received[i]!;
  }
  if (difference !== 0) {
    cleanUp(context);
    return null;
  }

  const plaintext = new Uint8Array(ciphertext.length);
  counterMode(context, ciphertext, plaintext);
  cleanUp(context);
  return plaintext;
}

function readWord(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

function writeWord(bytes: Uint8Array, offset: number, word: number): void {
  bytes[offset] = word >>> 24;
  bytes[offset + 1] = (word >>> 16) & 0xff;
  bytes[offset + 2] = (word >>> 8) & 0xff;
  bytes[offset + 3] = word & 0xff;
}
