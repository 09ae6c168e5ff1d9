/**
 * The server view: the encrypted rows of `chat_topics` that wait in this
 * user's inbox for the open conversation, read with the user's own rights
 * and refreshed while the panel is open. Pausing the receiver lets the rows
 * pile up, so a viewer can see what the server keeps: ciphertext only.
 */
import { errorMessage, h, replaceChildren, shortTime } from '../dom.ts';
import type { ChatSession, PendingRow } from '../session.ts';

/** Milliseconds between refreshes while the panel is open. */
const REFRESH_MS = 1500;

/** Characters of a long payload field shown before it is cut. */
const SHOWN_CHARS = 48;

export class ServerPanel {
  readonly element: HTMLElement;
  readonly #session: ChatSession;
  readonly #rows = h('div', { class: 'rows', 'data-testid': 'server-rows' });
  readonly #pause = h('button', { type: 'button', 'aria-pressed': 'false', 'data-testid': 'pause-receiving' }, 'Pause receiving');
  readonly #summary = h('p', { class: 'hint', 'data-testid': 'server-summary' });
  #contact: string | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #open = false;
  #loading = false;

  constructor(session: ChatSession, close: () => void) {
    this.#session = session;
    const closeButton = h('button', { type: 'button', class: 'close', 'aria-label': 'Close the server view' }, '×');
    closeButton.addEventListener('click', close);
    this.#pause.addEventListener('click', () => void this.#togglePause());

    this.element = h(
      'aside',
      { id: 'server-panel', class: 'server-panel', 'aria-labelledby': 'server-title', hidden: true, 'data-testid': 'server-panel' },
      h('div', { class: 'panel-header' }, h('h2', { id: 'server-title' }, 'What the server stores'), closeButton),
      h(
        'p',
        {},
        'Rows of chat_topics waiting in your inbox from this contact. Each payload is an encrypted envelope: the server relays it without being able to read it. Your device deletes a row after decrypting it, so pause receiving to watch rows arrive.',
      ),
      this.#pause,
      this.#summary,
      this.#rows,
      h('p', { class: 'hint' }, 'Rows you sent wait in your contact’s inbox, which only they can read.'),
    );
    this.element.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        close();
      }
    });
  }

  /** Shows the rows of the conversation with `contact`. */
  show(contact: string): void {
    if (contact !== this.#contact) {
      this.#contact = contact;
      replaceChildren(this.#rows);
      this.#summary.textContent = '';
      if (this.#open) {
        void this.refresh();
      }
    }
    this.#renderPause();
  }

  setOpen(open: boolean): void {
    if (open === this.#open) {
      return;
    }
    this.#open = open;
    this.element.hidden = !open;
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (open) {
      void this.refresh();
      this.#timer = setInterval(() => void this.refresh(), REFRESH_MS);
      this.#pause.focus();
    }
  }

  async refresh(): Promise<void> {
    const contact = this.#contact;
    if (contact === undefined || this.#loading || !navigator.onLine) {
      return;
    }
    this.#loading = true;
    try {
      const rows = await this.#session.pendingRows(contact);
      if (contact === this.#contact) {
        this.#render(rows);
      }
    } catch (error) {
      this.#summary.textContent = errorMessage(error);
    } finally {
      this.#loading = false;
    }
  }

  #render(rows: PendingRow[]): void {
    this.#summary.textContent =
      rows.length === 0 ? `No rows from ${this.#contact} are waiting: every topic was delivered and deleted.` : `${rows.length} encrypted ${rows.length === 1 ? 'row' : 'rows'} waiting.`;
    replaceChildren(
      this.#rows,
      ...rows.map((row) =>
        h(
          'article',
          { class: 'row-card', 'data-testid': 'server-row' },
          h(
            'h3',
            {},
            `topic ${row.id} · ${String((row.payload as { type?: unknown } | null)?.type ?? '?')} · ${shortTime(row.created_at)}`,
          ),
          h('pre', {}, shorten(row.payload)),
        ),
      ),
    );
  }

  #renderPause(): void {
    const paused = this.#session.paused;
    this.#pause.setAttribute('aria-pressed', String(paused));
    this.#pause.textContent = paused ? 'Resume receiving' : 'Pause receiving';
  }

  async #togglePause(): Promise<void> {
    this.#pause.disabled = true;
    try {
      await this.#session.setPaused(!this.#session.paused);
    } catch (error) {
      this.#summary.textContent = errorMessage(error);
    } finally {
      this.#pause.disabled = false;
      this.#renderPause();
      this.#pause.focus();
      void this.refresh();
    }
  }
}

/** Pretty-prints a payload with long strings cut to their start and length. */
function shorten(payload: unknown): string {
  return JSON.stringify(
    payload,
    (_key, value: unknown) =>
      typeof value === 'string' && value.length > SHOWN_CHARS ? `${value.slice(0, SHOWN_CHARS)}… (${value.length} chars)` : value,
    2,
  );
}
