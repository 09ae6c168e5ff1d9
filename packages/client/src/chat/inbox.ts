/**
 * The receive loop: joins the private inbox channel first, then pages the
 * pending topics over REST in id order, so no topic falls between catch-up
 * and live delivery. Notifications trigger coalesced fetches of the topics
 * after the last one seen. Every (re)join triggers a catch-up from the start
 * of the inbox, which contains only unacknowledged topics.
 */
import type { ChatLogger } from './logger.ts';
import { CoalescingRunner } from './scheduling.ts';
import type { InboxChannel, InboxChannelStatus, InboxTopic, SupabaseTransport } from './transport.ts';

/** Options of {@link InboxReceiver}. */
export interface InboxReceiverOptions {
  transport: SupabaseTransport;
  profile: string;
  /** Topics per REST page. */
  pageSize: number;
  /** Milliseconds between fetches that run without a notification, as a safety net. */
  pollIntervalMs: number;
  /** Milliseconds `start` waits for the first join of the channel. */
  subscribeTimeoutMs: number;
  logger: ChatLogger;
  /** Decrypts, commits and emits one topic; resolves once it is committed. */
  processTopic(topic: InboxTopic): Promise<void>;
  /** Reports channel state changes. */
  onChannelStatus(status: InboxChannelStatus, error?: Error): void;
  /** Reports a failed fetch pass; the loop keeps running. */
  onFetchError(error: unknown): void;
}

/** The receive loop of one profile. */
export class InboxReceiver {
  readonly #options: InboxReceiverOptions;
  readonly #runner: CoalescingRunner;
  #channel: InboxChannel | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  /** Highest topic id processed in this run; pages continue after it. */
  #cursor = 0;
  /** Lowest id a notification or a (re)join asked to fetch again from, consumed by the next pass. */
  #rewindTo: number | undefined;
  #stopped = false;
  #fetches = 0;

  constructor(options: InboxReceiverOptions) {
    this.#options = options;
    this.#runner = new CoalescingRunner(
      () => this.#pass(),
      (error) => options.onFetchError(error),
    );
  }

  /** REST pages fetched so far, for tests and metrics. */
  get fetches(): number {
    return this.#fetches;
  }

  /**
   * Joins `inbox:<profile>` and waits for the join, then catches up. Throws
   * when the first join fails or times out; later drops rejoin by themselves.
   */
  async start(): Promise<void> {
    const { transport, profile, logger } = this.#options;
    let settle: ((error?: Error) => void) | undefined;
    const joined = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
    });

    this.#channel = transport.subscribeInbox(profile, {
      onNotification: (notification) => {
        logger.debug({ profile, topicId: notification.id }, 'inbox notification');
        if (notification.id <= this.#cursor) {
          // A topic with a lower id can commit after a higher one was read.
          this.#rewind(notification.id - 1);
        }
        void this.#runner.request();
      },
      onStatus: (status, error) => {
        this.#options.onChannelStatus(status, error);
        if (status === 'subscribed') {
          settle?.();
          settle = undefined;
          // Notifications may have been missed while the channel was down.
          this.#rewind(0);
          void this.#runner.request();
        } else if (settle !== undefined && status !== 'closed') {
          settle(error ?? new Error(`joining inbox:${profile} ${status === 'timed_out' ? 'timed out' : 'failed'}`));
          settle = undefined;
        }
      },
    });

    const timer = setTimeout(() => {
      settle?.(new Error(`joining inbox:${profile} timed out after ${this.#options.subscribeTimeoutMs} ms`));
      settle = undefined;
    }, this.#options.subscribeTimeoutMs);

    try {
      await joined;
    } catch (error) {
      await this.stop();
      throw error;
    } finally {
      clearTimeout(timer);
    }

    this.#pollTimer = setInterval(() => void this.#runner.request(), this.#options.pollIntervalMs);
    await this.#runner.request();
  }

  /** Runs a fetch pass now and waits for it, for example after the app regained focus. */
  async fetchNow(): Promise<void> {
    await this.#runner.request();
  }

  /** Leaves the channel, stops polling and waits for the running pass. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#pollTimer !== undefined) {
      clearInterval(this.#pollTimer);
      this.#pollTimer = undefined;
    }
    const channel = this.#channel;
    this.#channel = undefined;
    if (channel !== undefined) {
      await channel.close();
    }
    await this.#runner.idle();
  }

  #rewind(afterId: number): void {
    this.#rewindTo = Math.min(this.#rewindTo ?? Number.MAX_SAFE_INTEGER, Math.max(0, afterId));
  }

  async #pass(): Promise<void> {
    if (this.#rewindTo !== undefined) {
      this.#cursor = Math.min(this.#cursor, this.#rewindTo);
      this.#rewindTo = undefined;
    }

    const { transport, profile, pageSize } = this.#options;
    while (!this.#stopped) {
      const page = await transport.fetchTopics(profile, this.#cursor, pageSize);
      this.#fetches++;

      for (const topic of page) {
        if (this.#stopped) {
          return;
        }
        await this.#options.processTopic(topic);
        this.#cursor = Math.max(this.#cursor, topic.id);
      }

      if (page.length < pageSize) {
        return;
      }
    }
  }
}
