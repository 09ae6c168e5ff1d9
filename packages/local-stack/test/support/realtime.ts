import type { RealtimeChannel, SupabaseClient } from '@supabase/supabase-js';
import WebSocket from 'ws';

/** Subscribes and resolves with the first terminal status and its error message. */
export function subscribe(channel: RealtimeChannel, timeoutMs = 10_000): Promise<{ status: string; message: string | undefined }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ status: 'TEST_TIMEOUT', message: undefined }), timeoutMs);
    channel.subscribe((status, error) => {
      if (status === 'SUBSCRIBED' || status === 'CHANNEL_ERROR' || status === 'TIMED_OUT' || status === 'CLOSED') {
        clearTimeout(timer);
        resolve({ status, message: error?.message });
      }
    });
  });
}

/** Collects broadcast payloads of `event` on `channel` (call before subscribing). */
export function collect(channel: RealtimeChannel, event: string): unknown[] {
  const received: unknown[] = [];
  channel.on('broadcast', { event }, (message) => received.push(message.payload));
  return received;
}

/** Makes the client's realtime connection use the signed-in user's access token. */
export async function useSessionToken(supabase: SupabaseClient): Promise<void> {
  const { data } = await supabase.auth.getSession();
  await supabase.realtime.setAuth(data.session?.access_token ?? null);
}

/** A raw websocket speaking protocol 2.0.0 (or 1.0.0), for frames supabase-js never sends. */
export class RawSocket {
  readonly frames: (string | Buffer)[] = [];
  closeCode: number | undefined;
  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => this.frames.push(isBinary ? Buffer.from(data as Buffer) : data.toString()));
    socket.on('close', (code) => {
      this.closeCode = code;
    });
  }

  static open(apiUrl: string, apikey: string, vsn = '2.0.0'): Promise<RawSocket> {
    const url = `${apiUrl.replace(/^http/, 'ws')}/realtime/v1/websocket?apikey=${encodeURIComponent(apikey)}&vsn=${vsn}`;
    const socket = new WebSocket(url);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new RawSocket(socket)));
      socket.once('error', reject);
    });
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Parsed 2.0.0 text frames. */
  messages(): unknown[][] {
    return this.frames.filter((frame): frame is string => typeof frame === 'string').map((frame) => JSON.parse(frame) as unknown[]);
  }

  reply(ref: string): { status: string; response: Record<string, unknown> } | undefined {
    const found = this.messages().find((message) => message[1] === ref && message[3] === 'phx_reply');
    return found?.[4] as { status: string; response: Record<string, unknown> } | undefined;
  }

  close(): void {
    this.socket.close();
  }
}
