/**
 * Protocol benchmark: Parley's PQXDH + Double Ratchet against libsignal
 * (@signalapp/libsignal-client, native), in one process and one run.
 *
 *   npm run bench:protocol [-- --rounds 5 --seconds 1.5]
 *   npm run bench:protocol -- --breakdown 200   # CPU per crypto operation in session setup
 *
 * Three workloads, each timed for both implementations:
 *
 * - session establishment, both sides: the initiator processes a prekey
 *   bundle (with signature checks, X25519 and ML-KEM-1024) and encrypts a
 *   first message, and the responder decrypts it and so creates its session.
 *   Identities and the signed prekey are long-lived. Every session uses a
 *   fresh one-time EC prekey and a fresh one-time KEM prekey, generated
 *   outside the timed part.
 * - one direction: encrypt + decrypt of 1 KiB messages, all from the same
 *   sender, so only the symmetric chains advance.
 * - ping-pong: the two sides alternate, so every message turns the DH ratchet.
 *
 * State is persisted after every message on both sides. libsignal runs with
 * in-memory stores that keep every record serialized (`serialize()` on save,
 * `deserialize()` on load), as libsignal's own test stores do. Parley keeps
 * the session record object in memory and serializes it with
 * `serializeSessionRecord` after every message, and the account with
 * `serializeAccount` whenever a message consumed one of its prekeys.
 * Messages cross the "wire" as bytes (libsignal) or JSON text (Parley), and
 * the receiver parses them.
 *
 * Each workload runs `rounds` times, alternating the implementations, for
 * about `seconds` each. The median rate is reported with the ratio
 * Parley / libsignal. Targets: one direction >= 1.0, ping-pong >= 0.5,
 * establishment >= 0.5 (within twice libsignal's time).
 *
 * Rates are also given per second of process CPU time (all threads). On a
 * shared machine they vary less than wall-clock rates, because WebCrypto
 * calls wait for the libuv thread pool and so suffer more from other load
 * than libsignal's synchronous native calls do.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';

import * as Signal from '@signalapp/libsignal-client';

import { aesGcm, ed25519, mlKem1024, x25519 } from '../packages/client/src/crypto/index.ts';

import {
  createAccount,
  decryptEnvelope,
  encryptMessage,
  exportPrekeys,
  initiateSession,
  publicIdentity,
  serializeAccount,
  serializeSessionRecord,
  type AccountState,
  type SessionRecord,
} from '../packages/client/src/protocol/index.ts';

const MESSAGE_BYTES = 1024;
const FIRST_MESSAGE = new TextEncoder().encode('first message of the session');

/** Milliseconds spent in the timed part: wall-clock, and CPU time of the whole process (all threads). */
interface Elapsed {
  wallMs: number;
  cpuMs: number;
}

interface Workload {
  name: string;
  /** Runs `count` operations and returns the time spent in the timed part. */
  run(count: number): Promise<Elapsed>;
}

/** Accumulates wall-clock and process CPU time over the timed parts of a workload. */
class Stopwatch {
  private wallMs = 0;
  private cpuMs = 0;
  private wallStart = 0;
  private cpuStart: NodeJS.CpuUsage | null = null;

  start(): void {
    this.cpuStart = process.cpuUsage();
    this.wallStart = performance.now();
  }

  stop(): void {
    this.wallMs += performance.now() - this.wallStart;
    const cpu = process.cpuUsage(this.cpuStart ?? undefined);
    this.cpuMs += (cpu.user + cpu.system) / 1000;
  }

  elapsed(): Elapsed {
    return { wallMs: this.wallMs, cpuMs: this.cpuMs };
  }
}

interface Implementation {
  name: string;
  establishment: Workload;
  oneDirection: Workload;
  pingPong: Workload;
}

// ---------------------------------------------------------------------------
// libsignal with in-memory stores that keep records serialized
// ---------------------------------------------------------------------------

class SerializedSessionStore extends Signal.SessionStore {
  private readonly records = new Map<string, Uint8Array<ArrayBuffer>>();

  async saveSession(address: Signal.ProtocolAddress, record: Signal.SessionRecord): Promise<void> {
    this.records.set(address.toString(), record.serialize());
  }

  async getSession(address: Signal.ProtocolAddress): Promise<Signal.SessionRecord | null> {
    const bytes = this.records.get(address.toString());
    return bytes === undefined ? null : Signal.SessionRecord.deserialize(bytes);
  }

  async getExistingSessions(addresses: Signal.ProtocolAddress[]): Promise<Signal.SessionRecord[]> {
    return addresses.map((address) => {
      const bytes = this.records.get(address.toString());
      if (bytes === undefined) {
        throw new Error(`no session for ${address.toString()}`);
      }
      return Signal.SessionRecord.deserialize(bytes);
    });
  }
}

class MemoryIdentityStore extends Signal.IdentityKeyStore {
  private readonly known = new Map<string, Signal.PublicKey>();

  constructor(
    private readonly identity: Signal.IdentityKeyPair,
    private readonly registrationId: number,
  ) {
    super();
  }

  async getIdentityKey(): Promise<Signal.PrivateKey> {
    return this.identity.privateKey;
  }

  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }

  async saveIdentity(address: Signal.ProtocolAddress, key: Signal.PublicKey): Promise<Signal.IdentityChange> {
    const previous = this.known.get(address.toString());
    this.known.set(address.toString(), key);
    return previous !== undefined && !previous.equals(key) ? Signal.IdentityChange.ReplacedExisting : Signal.IdentityChange.NewOrUnchanged;
  }

  async isTrustedIdentity(address: Signal.ProtocolAddress, key: Signal.PublicKey): Promise<boolean> {
    const previous = this.known.get(address.toString());
    return previous === undefined || previous.equals(key);
  }

  async getIdentity(address: Signal.ProtocolAddress): Promise<Signal.PublicKey | null> {
    return this.known.get(address.toString()) ?? null;
  }
}

class SerializedPreKeyStore extends Signal.PreKeyStore {
  private readonly records = new Map<number, Uint8Array<ArrayBuffer>>();

  async savePreKey(id: number, record: Signal.PreKeyRecord): Promise<void> {
    this.records.set(id, record.serialize());
  }

  async getPreKey(id: number): Promise<Signal.PreKeyRecord> {
    const bytes = this.records.get(id);
    if (bytes === undefined) {
      throw new Error(`no prekey ${id}`);
    }
    return Signal.PreKeyRecord.deserialize(bytes);
  }

  async removePreKey(id: number): Promise<void> {
    this.records.delete(id);
  }
}

class SerializedSignedPreKeyStore extends Signal.SignedPreKeyStore {
  private readonly records = new Map<number, Uint8Array<ArrayBuffer>>();

  async saveSignedPreKey(id: number, record: Signal.SignedPreKeyRecord): Promise<void> {
    this.records.set(id, record.serialize());
  }

  async getSignedPreKey(id: number): Promise<Signal.SignedPreKeyRecord> {
    const bytes = this.records.get(id);
    if (bytes === undefined) {
      throw new Error(`no signed prekey ${id}`);
    }
    return Signal.SignedPreKeyRecord.deserialize(bytes);
  }
}

class SerializedKyberPreKeyStore extends Signal.KyberPreKeyStore {
  private readonly records = new Map<number, Uint8Array<ArrayBuffer>>();

  async saveKyberPreKey(id: number, record: Signal.KyberPreKeyRecord): Promise<void> {
    this.records.set(id, record.serialize());
  }

  async getKyberPreKey(id: number): Promise<Signal.KyberPreKeyRecord> {
    const bytes = this.records.get(id);
    if (bytes === undefined) {
      throw new Error(`no Kyber prekey ${id}`);
    }
    return Signal.KyberPreKeyRecord.deserialize(bytes);
  }

  async markKyberPreKeyUsed(id: number): Promise<void> {
    this.records.delete(id);
  }
}

interface SignalParty {
  address: Signal.ProtocolAddress;
  identity: Signal.IdentityKeyPair;
  registrationId: number;
  sessions: SerializedSessionStore;
  identities: MemoryIdentityStore;
  preKeys: SerializedPreKeyStore;
  signedPreKeys: SerializedSignedPreKeyStore;
  kyberPreKeys: SerializedKyberPreKeyStore;
}

function createSignalParty(name: string, registrationId: number, identity = Signal.IdentityKeyPair.generate()): SignalParty {
  return {
    address: Signal.ProtocolAddress.new(name, 1),
    identity,
    registrationId,
    sessions: new SerializedSessionStore(),
    identities: new MemoryIdentityStore(identity, registrationId),
    preKeys: new SerializedPreKeyStore(),
    signedPreKeys: new SerializedSignedPreKeyStore(),
    kyberPreKeys: new SerializedKyberPreKeyStore(),
  };
}

/** Copies `party` with its identity and prekey stores but without sessions. */
function withoutSessions(party: SignalParty): SignalParty {
  return { ...party, sessions: new SerializedSessionStore(), identities: new MemoryIdentityStore(party.identity, party.registrationId) };
}

async function signalSend(from: SignalParty, to: SignalParty, plaintext: Uint8Array<ArrayBuffer>): Promise<{ type: number; bytes: Uint8Array<ArrayBuffer> }> {
  const message = await Signal.signalEncrypt(plaintext, to.address, from.address, from.sessions, from.identities);
  return { type: message.type(), bytes: message.serialize() };
}

async function signalReceive(to: SignalParty, from: SignalParty, wire: { type: number; bytes: Uint8Array<ArrayBuffer> }): Promise<Uint8Array> {
  if (wire.type === Signal.CiphertextMessageType.PreKey) {
    return Signal.signalDecryptPreKey(
      Signal.PreKeySignalMessage.deserialize(wire.bytes),
      from.address,
      to.address,
      to.sessions,
      to.identities,
      to.preKeys,
      to.signedPreKeys,
      to.kyberPreKeys,
    );
  }
  return Signal.signalDecrypt(Signal.SignalMessage.deserialize(wire.bytes), from.address, to.address, to.sessions, to.identities);
}

async function createLibsignal(): Promise<Implementation> {
  const alice = createSignalParty('alice', 1);
  const bob = createSignalParty('bob', 2);

  const signedPreKey = Signal.PrivateKey.generate();
  const signedPreKeySignature = bob.identity.privateKey.sign(signedPreKey.getPublicKey().serialize());
  await bob.signedPreKeys.saveSignedPreKey(1, Signal.SignedPreKeyRecord.new(1, Date.now(), signedPreKey.getPublicKey(), signedPreKey, signedPreKeySignature));
  let nextPreKeyId = 1;

  /** Generates and stores a one-time EC and a one-time Kyber prekey for one session (untimed). */
  async function freshBundle(): Promise<Signal.PreKeyBundle> {
    const id = nextPreKeyId++;
    const preKey = Signal.PrivateKey.generate();
    await bob.preKeys.savePreKey(id, Signal.PreKeyRecord.new(id, preKey.getPublicKey(), preKey));
    const kyber = Signal.KEMKeyPair.generate();
    const kyberSignature = bob.identity.privateKey.sign(kyber.getPublicKey().serialize());
    await bob.kyberPreKeys.saveKyberPreKey(id, Signal.KyberPreKeyRecord.new(id, Date.now(), kyber, kyberSignature));
    return Signal.PreKeyBundle.new(
      bob.registrationId,
      1,
      id,
      preKey.getPublicKey(),
      1,
      signedPreKey.getPublicKey(),
      signedPreKeySignature,
      bob.identity.publicKey,
      id,
      kyber.getPublicKey(),
      kyberSignature,
    );
  }

  /** Establishes a session both ways and returns the two parties. */
  async function establish(): Promise<[SignalParty, SignalParty]> {
    const a = withoutSessions(alice);
    const b = withoutSessions(bob);
    await Signal.processPreKeyBundle(await freshBundle(), b.address, a.address, a.sessions, a.identities);
    await signalReceive(b, a, await signalSend(a, b, FIRST_MESSAGE));
    await signalReceive(a, b, await signalSend(b, a, FIRST_MESSAGE));
    return [a, b];
  }

  const payload = new Uint8Array(MESSAGE_BYTES).fill(0x61);
  const oneWay = await establish();
  const pingPong = await establish();
  let turn = 0;

  return {
    name: 'libsignal',
    establishment: {
      name: 'session establishment',
      async run(count) {
        const stopwatch = new Stopwatch();
        for (let i = 0; i < count; i++) {
          const bundle = await freshBundle();
          const a = withoutSessions(alice);
          const b = withoutSessions(bob);

          stopwatch.start();
          await Signal.processPreKeyBundle(bundle, b.address, a.address, a.sessions, a.identities);
          const first = await signalSend(a, b, FIRST_MESSAGE);
          await signalReceive(b, a, first);
          stopwatch.stop();
        }
        return stopwatch.elapsed();
      },
    },
    oneDirection: {
      name: 'one direction, 1 KiB',
      async run(count) {
        const [sender, receiver] = oneWay;
        const stopwatch = new Stopwatch();
        stopwatch.start();
        for (let i = 0; i < count; i++) {
          await signalReceive(receiver, sender, await signalSend(sender, receiver, payload));
        }
        stopwatch.stop();
        return stopwatch.elapsed();
      },
    },
    pingPong: {
      name: 'ping-pong, 1 KiB',
      async run(count) {
        const stopwatch = new Stopwatch();
        stopwatch.start();
        for (let i = 0; i < count; i++) {
          const [from, to] = turn++ % 2 === 0 ? pingPong : [pingPong[1], pingPong[0]];
          await signalReceive(to, from, await signalSend(from, to, payload));
        }
        stopwatch.stop();
        return stopwatch.elapsed();
      },
    },
  };
}

// ---------------------------------------------------------------------------
// Parley
// ---------------------------------------------------------------------------

interface ParleyParty {
  profile: string;
  account: AccountState;
  record: SessionRecord | null;
  /** Serialized state, written after every message as a Store would. */
  persisted: { account: string; record: string };
}

function persist(party: ParleyParty, accountChanged: boolean): void {
  if (party.record !== null) {
    party.persisted.record = serializeSessionRecord(party.record);
  }
  if (accountChanged) {
    party.persisted.account = serializeAccount(party.account);
  }
}

async function parleySend(from: ParleyParty, plaintext: Uint8Array): Promise<string> {
  if (from.record === null) {
    throw new Error(`${from.profile} has no session`);
  }
  const { envelope, record } = await encryptMessage(from.record, plaintext);
  from.record = record;
  persist(from, false);
  return JSON.stringify(envelope);
}

async function parleyReceive(to: ParleyParty, wire: string): Promise<Uint8Array> {
  const result = await decryptEnvelope(to.account, to.record, JSON.parse(wire));
  to.record = result.record;
  to.account = result.account;
  persist(to, result.accountChanged);
  return result.plaintext;
}

/** Callbacks around the timed part of each session establishment, for the breakdown. */
interface TimedPartHooks {
  onTimedStart?: () => void;
  onTimedStop?: () => void;
}

async function createParley(hooks: TimedPartHooks = {}): Promise<Implementation> {
  const aliceAccount = await createAccount({ oneTimePrekeys: 1, kemPrekeys: 1 });
  let bobAccount = await createAccount();
  let bobUpload = exportPrekeys(bobAccount);

  /** Returns Bob's bundle for one session, replacing his account when its one-time prekeys ran out (untimed). */
  async function freshBundle(): Promise<unknown> {
    if (bobUpload.oneTimePrekeys.length === 0 || bobUpload.kemPrekeys.length === 0) {
      bobAccount = await createAccount();
      bobUpload = exportPrekeys(bobAccount);
    }
    const oneTimePrekey = bobUpload.oneTimePrekeys.shift()!;
    const kemPrekey = bobUpload.kemPrekeys.shift()!;
    return {
      profile: 'bob',
      identity: publicIdentity(bobAccount),
      signedPrekey: bobUpload.signedPrekey,
      oneTimePrekey,
      kemPrekey: { ...kemPrekey, lastResort: false },
    };
  }

  function party(profile: string, account: AccountState): ParleyParty {
    return { profile, account, record: null, persisted: { account: serializeAccount(account), record: '' } };
  }

  async function establish(): Promise<[ParleyParty, ParleyParty]> {
    const bundle = await freshBundle();
    const a = party('alice', aliceAccount);
    const b = party('bob', bobAccount);
    a.record = (await initiateSession(a.account, bundle)).record;
    persist(a, false);
    await parleyReceive(b, await parleySend(a, FIRST_MESSAGE));
    bobAccount = b.account;
    await parleyReceive(a, await parleySend(b, FIRST_MESSAGE));
    return [a, b];
  }

  const payload = new Uint8Array(MESSAGE_BYTES).fill(0x61);
  const oneWay = await establish();
  const pingPong = await establish();
  let turn = 0;

  return {
    name: 'Parley',
    establishment: {
      name: 'session establishment',
      async run(count) {
        const stopwatch = new Stopwatch();
        for (let i = 0; i < count; i++) {
          const bundle = await freshBundle();
          const a = party('alice', aliceAccount);
          const b = party('bob', bobAccount);

          hooks.onTimedStart?.();
          stopwatch.start();
          a.record = (await initiateSession(a.account, bundle)).record;
          persist(a, false);
          const first = await parleySend(a, FIRST_MESSAGE);
          await parleyReceive(b, first);
          stopwatch.stop();
          hooks.onTimedStop?.();

          bobAccount = b.account;
        }
        return stopwatch.elapsed();
      },
    },
    oneDirection: {
      name: 'one direction, 1 KiB',
      async run(count) {
        const [sender, receiver] = oneWay;
        const stopwatch = new Stopwatch();
        stopwatch.start();
        for (let i = 0; i < count; i++) {
          await parleyReceive(receiver, await parleySend(sender, payload));
        }
        stopwatch.stop();
        return stopwatch.elapsed();
      },
    },
    pingPong: {
      name: 'ping-pong, 1 KiB',
      async run(count) {
        const stopwatch = new Stopwatch();
        stopwatch.start();
        for (let i = 0; i < count; i++) {
          const [from, to] = turn++ % 2 === 0 ? pingPong : [pingPong[1], pingPong[0]];
          await parleyReceive(to, await parleySend(from, payload));
        }
        stopwatch.stop();
        return stopwatch.elapsed();
      },
    },
  };
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/** Operations per second of wall-clock time and per second of process CPU time. */
interface Rate {
  wall: number;
  cpu: number;
}

/** Runs `workload` for about `seconds` of wall-clock time and returns its rates. */
async function measure(workload: Workload, seconds: number): Promise<Rate> {
  // Calibrate with a small batch, then run a batch sized to the target time.
  const probeCount = 5;
  const probe = await workload.run(probeCount);
  const count = Math.max(probeCount, Math.round((seconds * 1000 * probeCount) / Math.max(probe.wallMs, 0.001)));
  const elapsed = await workload.run(count);
  return { wall: (count * 1000) / elapsed.wallMs, cpu: (count * 1000) / Math.max(elapsed.cpuMs, 0.001) };
}

function median(values: number[]): number {
  const sorted = values.slice().sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function formatRate(rate: number): string {
  return rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}

/** Process CPU time in milliseconds, all threads. */
function processCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Runs `operation` `count` times in sequence after a warm-up and returns its CPU time per call in µs. */
async function isolatedCpuMicroseconds(count: number, operation: () => unknown): Promise<number> {
  for (let i = 0; i < Math.min(count, 20); i++) {
    await operation();
  }
  const start = processCpuMs();
  for (let i = 0; i < count; i++) {
    await operation();
  }
  return ((processCpuMs() - start) * 1000) / count;
}

function base64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Estimates where Parley's session establishment spends CPU time. The
 * protocol runs several operations concurrently, so timing each call in place
 * would count shared time twice. Instead this counts the calls per session
 * during the timed part, measures each operation's CPU cost alone, and
 * multiplies.
 */
async function printEstablishmentBreakdown(sessions: number): Promise<void> {
  const calls = new Map<string, number>();
  let counting = false;

  const count = (label: string): void => {
    if (counting) {
      calls.set(label, (calls.get(label) ?? 0) + 1);
    }
  };
  const wrap = (target: object, method: string, label: string): void => {
    const methods = target as Record<string, (...args: unknown[]) => unknown>;
    const original = methods[method]!;
    methods[method] = (...args: unknown[]): unknown => {
      count(label);
      return original.apply(target, args);
    };
  };

  wrap(x25519, 'generateKeyPair', 'X25519 key generation');
  wrap(x25519, 'sharedSecret', 'X25519 shared secret');
  wrap(ed25519, 'verify', 'Ed25519 verification');
  wrap(mlKem1024, 'generateKeyPair', 'ML-KEM-1024 key generation');
  wrap(mlKem1024, 'encapsulate', 'ML-KEM-1024 encapsulation');
  wrap(mlKem1024, 'decapsulate', 'ML-KEM-1024 decapsulation');
  wrap(mlKem1024, 'decapsulationKeyFromSeed', 'ML-KEM-1024 decapsulation key rebuild');
  wrap(aesGcm, 'encrypt', 'AES-256-GCM, 1 KiB');
  wrap(aesGcm, 'decrypt', 'AES-256-GCM, 1 KiB');
  const subtle = globalThis.crypto.subtle;
  const importKey = subtle.importKey.bind(subtle);
  subtle.importKey = ((...args: Parameters<SubtleCrypto['importKey']>) => {
    const format: string = args[0];
    const algorithm = (args[2] as { name?: string }).name;
    if (format === 'pkcs8') {
      count('WebCrypto PKCS#8 private key import');
    } else if (format === 'jwk') {
      count('WebCrypto JWK private key import');
    } else if (format === 'raw' && (algorithm === 'X25519' || algorithm === 'Ed25519')) {
      count('WebCrypto raw public key import');
    }
    return importKey(...args);
  }) as SubtleCrypto['importKey'];

  const parley = await createParley({
    onTimedStart: () => {
      counting = true;
    },
    onTimedStop: () => {
      counting = false;
    },
  });
  await parley.establishment.run(10);
  calls.clear();
  const elapsed = await parley.establishment.run(sessions);

  // Each operation alone, with keys like those of a session.
  const own = await x25519.generateKeyPair();
  const peer = await x25519.generateKeyPair();
  const signer = await ed25519.generateKeyPair();
  const signed = new Uint8Array(1569);
  const signature = await ed25519.sign(signer.privateKey, signed);
  const kem = mlKem1024.generateKeyPair();
  const encapsulation = mlKem1024.encapsulate(kem.publicKey);
  const key = new Uint8Array(32).fill(1);
  const nonce = new Uint8Array(12);
  const plaintext = new Uint8Array(MESSAGE_BYTES);
  const kemSeed = new Uint8Array(64).fill(7);
  const kemFromSeed = mlKem1024.generateKeyPair(kemSeed);
  const jwk: JsonWebKey = { kty: 'OKP', crv: 'X25519', d: base64Url(own.privateKey), x: base64Url(own.publicKey) };
  const pkcs8 = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20, ...own.privateKey]);
  const costs = new Map<string, number>([
    ['X25519 key generation', await isolatedCpuMicroseconds(300, () => x25519.generateKeyPair())],
    ['X25519 shared secret', await isolatedCpuMicroseconds(300, () => x25519.sharedSecret(own.privateKey, peer.publicKey))],
    ['Ed25519 verification', await isolatedCpuMicroseconds(300, () => ed25519.verify(signer.publicKey, signed, signature))],
    ['ML-KEM-1024 key generation', await isolatedCpuMicroseconds(50, () => mlKem1024.generateKeyPair())],
    ['ML-KEM-1024 encapsulation', await isolatedCpuMicroseconds(50, () => mlKem1024.encapsulate(kem.publicKey))],
    ['ML-KEM-1024 decapsulation', await isolatedCpuMicroseconds(50, () => mlKem1024.decapsulate(encapsulation.cipherText, kem.privateKey))],
    ['AES-256-GCM, 1 KiB', await isolatedCpuMicroseconds(300, () => aesGcm.encrypt(key, nonce, plaintext, nonce))],
    ['WebCrypto PKCS#8 private key import', await isolatedCpuMicroseconds(300, () => importKey('pkcs8', pkcs8, { name: 'X25519' }, false, ['deriveBits']))],
    ['WebCrypto JWK private key import', await isolatedCpuMicroseconds(300, () => importKey('jwk', jwk, { name: 'X25519' }, false, ['deriveBits']))],
    ['WebCrypto raw public key import', await isolatedCpuMicroseconds(300, () => importKey('raw', peer.publicKey as Uint8Array<ArrayBuffer>, { name: 'X25519' }, false, []))],
    ['ML-KEM-1024 decapsulation key rebuild', await isolatedCpuMicroseconds(50, () => mlKem1024.decapsulationKeyFromSeed(kemSeed, kemFromSeed.publicKey))],
  ]);

  const measured = (elapsed.cpuMs * 1000) / sessions;
  console.log(`Parley session establishment: ${measured.toFixed(0)} µs of CPU per session, measured over ${sessions} sessions\n`);
  console.log('operation                             calls/session  CPU µs/call alone  estimated CPU µs/session');
  let estimated = 0;
  const rows = [...costs.entries()].map(([label, cost]) => ({ label, cost, perSession: ((calls.get(label) ?? 0) / sessions) * cost }));
  for (const row of rows.sort((a, b) => b.perSession - a.perSession)) {
    estimated += row.perSession;
    const callsPerSession = (calls.get(row.label) ?? 0) / sessions;
    console.log(`${row.label.padEnd(37)} ${callsPerSession.toFixed(1).padStart(13)}  ${row.cost.toFixed(0).padStart(17)}  ${row.perSession.toFixed(0).padStart(24)}`);
  }
  console.log(`${'sum of the estimates'.padEnd(37)} ${''.padStart(13)}  ${''.padStart(17)}  ${estimated.toFixed(0).padStart(24)}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '1.5' },
      breakdown: { type: 'string' },
    },
  });

  if (values.breakdown !== undefined) {
    const sessions = Number(values.breakdown);
    if (!Number.isInteger(sessions) || sessions < 1) {
      throw new Error(`--breakdown must be a positive number of sessions, got ${values.breakdown}`);
    }
    await printEstablishmentBreakdown(sessions);
    return;
  }

  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
  }
  if (!(seconds > 0)) {
    throw new Error(`--seconds must be a positive number, got ${values.seconds}`);
  }

  console.log(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown model'})`);
  console.log(`${rounds} rounds of about ${seconds} s per workload and implementation\n`);

  const libsignal = await createLibsignal();
  const parley = await createParley();
  const targets = { establishment: 0.5, oneDirection: 1.0, pingPong: 0.5 } as const;

  const rows: string[][] = [['workload', 'libsignal /s', 'Parley /s', 'Parley/libsignal', 'target', 'per CPU-second: libsignal', 'Parley', 'ratio']];
  for (const key of ['establishment', 'oneDirection', 'pingPong'] as const) {
    // Warm up both implementations so the JIT and the native module are ready.
    await libsignal[key].run(20);
    await parley[key].run(20);

    const libsignalRates: Rate[] = [];
    const parleyRates: Rate[] = [];
    for (let round = 0; round < rounds; round++) {
      libsignalRates.push(await measure(libsignal[key], seconds));
      parleyRates.push(await measure(parley[key], seconds));
    }

    const libsignalWall = median(libsignalRates.map((rate) => rate.wall));
    const parleyWall = median(parleyRates.map((rate) => rate.wall));
    const libsignalCpu = median(libsignalRates.map((rate) => rate.cpu));
    const parleyCpu = median(parleyRates.map((rate) => rate.cpu));
    const ratio = parleyWall / libsignalWall;
    const target = targets[key];
    rows.push([
      parley[key].name,
      formatRate(libsignalWall),
      formatRate(parleyWall),
      `${ratio.toFixed(2)}x`,
      `>= ${target.toFixed(1)}x ${ratio >= target ? 'met' : 'MISSED'}`,
      formatRate(libsignalCpu),
      formatRate(parleyCpu),
      `${(parleyCpu / libsignalCpu).toFixed(2)}x`,
    ]);
    const rounded = (rates: Rate[]) => rates.map((rate) => formatRate(rate.wall)).join(' ');
    console.log(`${parley[key].name}: libsignal ${rounded(libsignalRates)} | Parley ${rounded(parleyRates)}`);
  }

  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  console.log('');
  for (const row of rows) {
    console.log(row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  '));
  }
}

await main();
