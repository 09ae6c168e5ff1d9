import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Sql } from 'postgres';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  decodeBinary,
  decodeText,
  encodeBinaryBroadcast,
  encodeText,
  FrameError,
  type PhoenixMessage,
  type ProtocolVersion,
} from './phoenix.ts';
import { authorizeChannel } from './realtime-authorization.ts';
import type { Claims, TokenVerifier } from './tokens.ts';

/** Channel on which the bootstrap's realtime.send notifies `{id, topic, event, private, payload?}`. */
export const BROADCAST_NOTIFY_CHANNEL = 'realtime_broadcast';

/** Largest websocket frame accepted, in bytes; ws closes the connection with 1009 beyond it. */
const MAX_FRAME_BYTES = 1024 * 1024;

/** A connection that sends nothing, not even a heartbeat, for this long is closed (Phoenix's default). */
const IDLE_TIMEOUT_MS = 60_000;

/** Most channels one connection may join. */
const MAX_CHANNELS_PER_CONNECTION = 100;

/** Topics and events must fit the one-byte length fields of the binary frames. */
const MAX_NAME_LENGTH = 255;

const TOPIC_PREFIX = 'realtime:';

interface Channel {
  topic: string;
  subtopic: string;
  joinRef: string | null;
  private: boolean;
  canWrite: boolean;
  self: boolean;
  ack: boolean;
  expiryTimer: NodeJS.Timeout | undefined;
}

interface Client {
  id: number;
  socket: WebSocket;
  version: ProtocolVersion;
  /** Token from the `apikey` query parameter, used by joins that send no `access_token`. */
  connectionToken: string;
  channels: Map<string, Channel>;
  lastSeen: number;
}

export interface RealtimeOptions {
  sql: Sql;
  listenSql: Sql;
  verifier: TokenVerifier;
  logger: Logger;
  /** Returns true when `apikey` is one of the project's API keys. */
  isApiKey(apikey: string): boolean;
}

interface Delivery {
  topic: string;
  event: string;
  payload: unknown;
  binary: boolean;
  private: boolean;
  sender: Client | undefined;
}

/**
 * The Realtime websocket endpoint: Phoenix channels with broadcast, private channels
 * authorized by the policies on realtime.messages, and delivery of realtime.send messages.
 */
export class RealtimeServer {
  private readonly server = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES });
  /** Channels by full topic (`realtime:<subtopic>`), for delivery. */
  private readonly subscribers = new Map<string, Set<{ client: Client; channel: Channel }>>();
  private readonly clients = new Set<Client>();
  private nextClientId = 1;
  private idleTimer: NodeJS.Timeout | undefined;
  private unlisten: (() => Promise<void>) | undefined;

  constructor(private readonly options: RealtimeOptions) {}

  async start(): Promise<void> {
    const subscription = await this.options.listenSql.listen(BROADCAST_NOTIFY_CHANNEL, (text) => {
      this.onNotification(text).catch((error: unknown) => {
        this.options.logger.error({ err: error }, 'failed to deliver a realtime.send message');
      });
    });
    this.unlisten = () => subscription.unlisten();
    this.idleTimer = setInterval(() => this.closeIdleClients(), IDLE_TIMEOUT_MS / 4);
    this.idleTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.idleTimer);
    await this.unlisten?.().catch(() => undefined);
    for (const client of this.clients) client.socket.terminate();
    this.server.close();
  }

  get connectionCount(): number {
    return this.clients.size;
  }

  /** Handles an HTTP upgrade to `/realtime/v1/websocket`. */
  async handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, query: URLSearchParams): Promise<void> {
    const apikey = query.get('apikey') ?? (request.headers.apikey as string | undefined);
    if (apikey === undefined || apikey === '') {
      rejectUpgrade(socket, 401, 'missing apikey; pass the anon key as the apikey query parameter');
      return;
    }
    if (!this.options.isApiKey(apikey)) {
      const verified = await this.options.verifier.verify(apikey);
      if (!verified.ok) {
        rejectUpgrade(socket, 401, `invalid apikey: ${verified.message}`);
        return;
      }
    }

    const vsn = query.get('vsn') ?? '1.0.0';
    if (vsn !== '1.0.0' && vsn !== '2.0.0') {
      rejectUpgrade(socket, 400, `unsupported vsn "${vsn.slice(0, 20)}"; use 1.0.0 or 2.0.0`);
      return;
    }

    this.server.handleUpgrade(request, socket, head, (ws) => this.onConnection(ws, vsn, apikey));
  }

  private onConnection(socket: WebSocket, version: ProtocolVersion, connectionToken: string): void {
    const client: Client = { id: this.nextClientId++, socket, version, connectionToken, channels: new Map(), lastSeen: Date.now() };
    this.clients.add(client);
    this.options.logger.debug({ clientId: client.id, vsn: version }, 'realtime client connected');

    socket.on('message', (data, isBinary) => {
      client.lastSeen = Date.now();
      this.onFrame(client, data, isBinary).catch((error: unknown) => {
        this.options.logger.error({ err: error, clientId: client.id }, 'realtime frame handling failed');
      });
    });
    socket.on('close', () => this.onClose(client));
    socket.on('error', (error) => {
      this.options.logger.debug({ err: error, clientId: client.id }, 'realtime socket error');
    });
  }

  private onClose(client: Client): void {
    for (const channel of client.channels.values()) this.removeChannel(client, channel);
    this.clients.delete(client);
    this.options.logger.debug({ clientId: client.id }, 'realtime client disconnected');
  }

  private closeIdleClients(): void {
    const deadline = Date.now() - IDLE_TIMEOUT_MS;
    for (const client of this.clients) {
      if (client.lastSeen < deadline) {
        this.options.logger.debug({ clientId: client.id }, 'closing idle realtime client');
        client.socket.close(1000, 'heartbeat timeout');
      }
    }
  }

  private async onFrame(client: Client, data: RawData, isBinary: boolean): Promise<void> {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);

    if (isBinary) {
      if (client.version !== '2.0.0') {
        client.socket.close(1003, 'binary frames need protocol 2.0.0');
        return;
      }
      let broadcast;
      try {
        broadcast = decodeBinary(bytes);
      } catch (error) {
        this.rejectFrame(client, error);
        return;
      }
      await this.onBroadcast(client, {
        joinRef: broadcast.joinRef || null,
        ref: broadcast.ref || null,
        topic: broadcast.topic,
        event: 'broadcast',
        payload: { type: 'broadcast', event: broadcast.event, payload: broadcast.payload },
      }, broadcast.binary);
      return;
    }

    let message: PhoenixMessage;
    try {
      message = decodeText(bytes.toString('utf8'), client.version);
    } catch (error) {
      this.rejectFrame(client, error);
      return;
    }
    await this.onMessage(client, message);
  }

  /** Closes the connection on a frame that is not a Phoenix message: there is no ref to reply to. */
  private rejectFrame(client: Client, error: unknown): void {
    const reason = error instanceof FrameError ? error.message : 'malformed frame';
    this.options.logger.debug({ clientId: client.id, reason }, 'closing realtime client after a malformed frame');
    client.socket.close(1007, reason.slice(0, 120));
  }

  private send(client: Client, message: PhoenixMessage): void {
    if (client.socket.readyState !== WebSocket.OPEN) return;
    client.socket.send(encodeText(message, client.version));
  }

  private reply(client: Client, message: PhoenixMessage, status: 'ok' | 'error', response: Record<string, unknown>): void {
    if (message.ref === null) return;
    this.send(client, {
      joinRef: message.joinRef,
      ref: message.ref,
      topic: message.topic,
      event: 'phx_reply',
      payload: { status, response },
    });
  }

  private async onMessage(client: Client, message: PhoenixMessage): Promise<void> {
    if (message.topic === 'phoenix') {
      if (message.event === 'heartbeat') this.reply(client, message, 'ok', {});
      else this.reply(client, message, 'error', { reason: `unknown event "${message.event.slice(0, 40)}" on topic phoenix` });
      return;
    }

    switch (message.event) {
      case 'phx_join':
        await this.onJoin(client, message);
        return;
      case 'phx_leave':
        this.onLeave(client, message);
        return;
      case 'access_token':
        await this.onAccessToken(client, message);
        return;
      case 'broadcast':
        await this.onBroadcast(client, message, false);
        return;
      case 'presence':
        this.reply(client, message, 'error', { reason: 'Presence is not supported by the local stack' });
        return;
      default:
        this.reply(client, message, 'error', { reason: `unknown event "${message.event.slice(0, 40)}"` });
    }
  }

  private async onJoin(client: Client, message: PhoenixMessage): Promise<void> {
    const { topic } = message;
    if (!topic.startsWith(TOPIC_PREFIX) || topic.length <= TOPIC_PREFIX.length || topic.length > MAX_NAME_LENGTH) {
      this.reply(client, message, 'error', { reason: `topic must be "realtime:<name>" and at most ${MAX_NAME_LENGTH} characters` });
      return;
    }
    const payload = (typeof message.payload === 'object' && message.payload !== null ? message.payload : {}) as Record<string, unknown>;
    const config = (typeof payload.config === 'object' && payload.config !== null ? payload.config : {}) as Record<string, unknown>;
    const broadcastConfig = (typeof config.broadcast === 'object' && config.broadcast !== null ? config.broadcast : {}) as Record<string, unknown>;
    const presenceConfig = (typeof config.presence === 'object' && config.presence !== null ? config.presence : {}) as Record<string, unknown>;

    if (Array.isArray(config.postgres_changes) && config.postgres_changes.length > 0) {
      this.reply(client, message, 'error', { reason: 'postgres_changes is not supported by the local stack; use broadcast' });
      return;
    }
    if (presenceConfig.enabled === true) {
      this.reply(client, message, 'error', { reason: 'Presence is not supported by the local stack' });
      return;
    }
    if (!client.channels.has(topic) && client.channels.size >= MAX_CHANNELS_PER_CONNECTION) {
      this.reply(client, message, 'error', { reason: `a connection may join at most ${MAX_CHANNELS_PER_CONNECTION} channels` });
      return;
    }

    const token = typeof payload.access_token === 'string' ? payload.access_token : client.connectionToken;
    const verified = await this.options.verifier.verify(token);
    if (!verified.ok) {
      this.reply(client, message, 'error', { reason: `Invalid JWT: ${verified.message}` });
      return;
    }

    const subtopic = topic.slice(TOPIC_PREFIX.length);
    const isPrivate = config.private === true;
    let canWrite = true;
    if (isPrivate) {
      const permissions = await this.authorize(client, subtopic, verified.claims);
      if (!permissions.read) {
        this.options.logger.info({ clientId: client.id, topic, role: verified.claims.role }, 'private channel join denied');
        this.reply(client, message, 'error', {
          reason: `Unauthorized: You do not have permissions to read from this Channel topic: ${subtopic}`,
        });
        return;
      }
      canWrite = permissions.write;
    }

    const existing = client.channels.get(topic);
    if (existing !== undefined) this.removeChannel(client, existing);

    const channel: Channel = {
      topic,
      subtopic,
      joinRef: message.joinRef ?? message.ref,
      private: isPrivate,
      canWrite,
      self: broadcastConfig.self === true,
      ack: broadcastConfig.ack === true,
      expiryTimer: undefined,
    };
    this.scheduleExpiry(client, channel, verified.claims);
    client.channels.set(topic, channel);
    let set = this.subscribers.get(topic);
    if (set === undefined) {
      set = new Set();
      this.subscribers.set(topic, set);
    }
    set.add({ client, channel });

    this.options.logger.debug({ clientId: client.id, topic, private: isPrivate }, 'channel joined');
    this.reply(client, message, 'ok', { postgres_changes: [] });
  }

  private async authorize(client: Client, subtopic: string, claims: Claims) {
    try {
      return await authorizeChannel(this.options.sql, subtopic, claims.role, claims);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === '42501' || code === '22023' || code === '42704') return { read: false, write: false };
      this.options.logger.error({ err: error, clientId: client.id, subtopic }, 'private channel authorization failed');
      return { read: false, write: false };
    }
  }

  /** Closes the channel when its token expires, as Supabase Realtime does. */
  private scheduleExpiry(client: Client, channel: Channel, claims: Claims): void {
    clearTimeout(channel.expiryTimer);
    if (typeof claims.exp !== 'number') return;
    const delay = claims.exp * 1000 - Date.now();
    if (delay > 2_147_000_000) return;
    channel.expiryTimer = setTimeout(() => this.closeChannel(client, channel, 'Token has expired'), Math.max(0, delay));
    channel.expiryTimer.unref();
  }

  private closeChannel(client: Client, channel: Channel, reason: string): void {
    this.send(client, {
      joinRef: channel.joinRef,
      ref: null,
      topic: channel.topic,
      event: 'system',
      payload: { channel: channel.subtopic, extension: 'system', status: 'error', message: reason },
    });
    this.send(client, { joinRef: channel.joinRef, ref: null, topic: channel.topic, event: 'phx_close', payload: {} });
    this.removeChannel(client, channel);
  }

  private removeChannel(client: Client, channel: Channel): void {
    clearTimeout(channel.expiryTimer);
    if (client.channels.get(channel.topic) === channel) client.channels.delete(channel.topic);
    const set = this.subscribers.get(channel.topic);
    if (set === undefined) return;
    for (const entry of set) {
      if (entry.channel === channel) set.delete(entry);
    }
    if (set.size === 0) this.subscribers.delete(channel.topic);
  }

  private onLeave(client: Client, message: PhoenixMessage): void {
    const channel = client.channels.get(message.topic);
    if (channel !== undefined) this.removeChannel(client, channel);
    this.reply(client, message, 'ok', {});
    this.send(client, { joinRef: message.joinRef, ref: null, topic: message.topic, event: 'phx_close', payload: {} });
  }

  private async onAccessToken(client: Client, message: PhoenixMessage): Promise<void> {
    const channel = client.channels.get(message.topic);
    if (channel === undefined) {
      this.reply(client, message, 'error', { reason: 'unmatched topic' });
      return;
    }
    const payload = message.payload as { access_token?: unknown } | null;
    const token = typeof payload?.access_token === 'string' ? payload.access_token : undefined;
    if (token === undefined) {
      this.reply(client, message, 'error', { reason: 'access_token must be a string' });
      return;
    }

    const verified = await this.options.verifier.verify(token);
    if (!verified.ok) {
      this.closeChannel(client, channel, `Invalid JWT: ${verified.message}`);
      return;
    }
    if (channel.private) {
      const permissions = await this.authorize(client, channel.subtopic, verified.claims);
      if (!permissions.read) {
        this.closeChannel(client, channel, `Unauthorized: You do not have permissions to read from this Channel topic: ${channel.subtopic}`);
        return;
      }
      channel.canWrite = permissions.write;
    }
    this.scheduleExpiry(client, channel, verified.claims);
    this.reply(client, message, 'ok', {});
  }

  private async onBroadcast(client: Client, message: PhoenixMessage, binary: boolean): Promise<void> {
    const channel = client.channels.get(message.topic);
    if (channel === undefined) {
      this.reply(client, message, 'error', { reason: 'unmatched topic' });
      return;
    }
    const payload = message.payload as { type?: unknown; event?: unknown; payload?: unknown } | null;
    if (payload === null || typeof payload !== 'object' || typeof payload.event !== 'string' || payload.event === '' || payload.event.length > MAX_NAME_LENGTH) {
      this.reply(client, message, 'error', { reason: 'a broadcast payload is {"type": "broadcast", "event": "<name>", "payload": ...}' });
      return;
    }
    if (channel.private && !channel.canWrite) {
      this.options.logger.debug({ clientId: client.id, topic: channel.topic }, 'broadcast on private channel denied');
      if (channel.ack) this.reply(client, message, 'error', { reason: `Unauthorized: You do not have permissions to write to this Channel topic: ${channel.subtopic}` });
      return;
    }

    this.deliver({
      topic: channel.topic,
      event: payload.event,
      payload: payload.payload,
      binary,
      private: channel.private,
      sender: channel.self ? undefined : client,
    });
    if (channel.ack) this.reply(client, message, 'ok', {});
  }

  private async onNotification(text: string): Promise<void> {
    const notification = JSON.parse(text) as { id?: string; topic?: string; event?: string; private?: boolean; payload?: unknown };
    if (typeof notification.topic !== 'string' || typeof notification.event !== 'string') return;

    const topic = `${TOPIC_PREFIX}${notification.topic}`;
    if (!this.subscribers.has(topic)) return;

    let payload = notification.payload;
    if (payload === undefined && typeof notification.id === 'string') {
      const [row] = await this.options.sql<{ payload: unknown }[]>`select payload from realtime.messages where id = ${notification.id} limit 1`;
      payload = row?.payload;
    }
    this.deliver({ topic, event: notification.event, payload, binary: false, private: notification.private !== false, sender: undefined });
  }

  /** Sends a broadcast to every client on `topic` whose channel has the same privacy, encoding each form once. */
  private deliver(delivery: Delivery): void {
    const set = this.subscribers.get(delivery.topic);
    if (set === undefined) return;

    const encoded = new Map<ProtocolVersion, string | Buffer>();
    const encode = (version: ProtocolVersion): string | Buffer | undefined => {
      const cached = encoded.get(version);
      if (cached !== undefined) return cached;
      let frame: string | Buffer | undefined;
      if (delivery.binary) {
        // NOTE: protocol 1.0.0 has no binary frames, so binary broadcasts reach only 2.0.0 clients.
        frame = version === '2.0.0' ? encodeBinaryBroadcast(delivery.topic, delivery.event, delivery.payload as Buffer) : undefined;
      } else {
        frame = encodeText(
          { joinRef: null, ref: null, topic: delivery.topic, event: 'broadcast', payload: { type: 'broadcast', event: delivery.event, payload: delivery.payload } },
          version,
        );
      }
      if (frame !== undefined) encoded.set(version, frame);
      return frame;
    };

    for (const { client, channel } of set) {
      if (client === delivery.sender || channel.private !== delivery.private) continue;
      if (client.socket.readyState !== WebSocket.OPEN) continue;
      const frame = encode(client.version);
      if (frame !== undefined) client.socket.send(frame);
    }
  }
}

function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ message });
  const reason = status === 400 ? 'Bad Request' : 'Unauthorized';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
