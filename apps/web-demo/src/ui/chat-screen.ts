/**
 * The chat screen: contact list, conversation, safety numbers, the
 * identity-change warning and the server view. The skeleton is built once,
 * so focus and typed text survive updates; lists are rebuilt on each change.
 */
import { PROFILE_NAME_PATTERN } from '@parley/client';

import { digitGroups, errorMessage, h, replaceChildren, shortTime } from '../dom.ts';
import type { ChatSession, ConnectionStatus, MessageState, ViewMessage } from '../session.ts';
import { ServerPanel } from './server-panel.ts';

/** Actions that leave the chat screen. */
export interface ChatScreenActions {
  signOut(): Promise<void>;
}

const CONNECTION_LABELS: Record<ConnectionStatus, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
  paused: 'Receiving paused',
};

const STATE_MARKS: Record<MessageState, string> = {
  sending: '',
  sent: '✓ ',
  delivered: '✓✓ ',
  failed: '⚠ ',
};

const STATE_LABELS: Record<MessageState, string> = {
  sending: 'Sending…',
  sent: 'Sent',
  delivered: 'Delivered',
  failed: 'Not sent',
};

export class ChatScreen {
  readonly #session: ChatSession;
  readonly #root: HTMLElement;
  readonly #actions: ChatScreenActions;
  readonly #connection = h('span', { class: 'connection', 'data-testid': 'connection' });
  readonly #contactList = h('ul', { class: 'contacts', 'aria-label': 'Conversations', 'data-testid': 'contacts' });
  readonly #newContact = h('input', {
    id: 'new-contact',
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: 'false',
    placeholder: 'profile name',
    'data-testid': 'new-contact',
  });
  readonly #newContactError = h('p', { class: 'form-error', role: 'alert' });
  readonly #title = h('h2', { id: 'conversation-title', tabindex: -1 });
  readonly #safetyButton = h('button', { type: 'button', 'data-testid': 'safety-number' }, 'Safety number');
  readonly #serverButton = h('button', { type: 'button', 'aria-pressed': 'false', 'aria-controls': 'server-panel', 'data-testid': 'server-view' }, 'Server view');
  readonly #banner = h('div', { class: 'banner-slot' });
  readonly #messages = h('ol', { class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-labelledby': 'conversation-title', 'data-testid': 'messages' });
  readonly #composer = h('input', { id: 'composer', autocomplete: 'off', placeholder: 'Write a message', 'aria-label': 'Message', 'data-testid': 'composer' });
  readonly #sendButton = h('button', { type: 'submit', class: 'primary', 'data-testid': 'send' }, 'Send');
  readonly #notices = h('div', { class: 'notices', role: 'status', 'data-testid': 'notices' });
  readonly #layout: HTMLElement;
  readonly #serverPanel: ServerPanel;
  readonly #safetyDialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'safety-title', 'data-testid': 'safety-dialog' });
  readonly #selfDialog = h('dialog', { class: 'dialog', 'aria-labelledby': 'self-title', 'data-testid': 'self-dialog' });
  #shownContact: string | undefined;
  /** Set when the user sent a message, so the next update shows the end of the conversation. */
  #scrollToEnd = false;

  constructor(root: HTMLElement, session: ChatSession, device: string, actions: ChatScreenActions) {
    this.#root = root;
    this.#session = session;
    this.#actions = actions;
    this.#serverPanel = new ServerPanel(session, () => this.#toggleServerPanel(false));

    const selfButton = h('button', { type: 'button', class: 'self', 'data-testid': 'self' }, 'You: ', h('strong', {}, session.profile));
    selfButton.addEventListener('click', () => void this.#openSelfDialog());

    const newContactForm = h(
      'form',
      { class: 'new-contact', 'aria-label': 'Start a conversation' },
      h('label', { for: 'new-contact' }, 'Start a conversation with'),
      h('div', { class: 'row' }, this.#newContact, h('button', { type: 'submit' }, 'Open')),
      this.#newContactError,
    );
    newContactForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#startConversation();
    });

    const back = h('button', { type: 'button', class: 'back', 'aria-label': 'Back to conversations', 'data-testid': 'back' }, '←');
    back.addEventListener('click', () => {
      const contact = this.#session.openContact;
      this.#session.closeConversation();
      const item = [...this.#contactList.querySelectorAll<HTMLButtonElement>('button')].find((button) => button.dataset.contact === contact);
      (item ?? this.#newContact).focus();
    });

    this.#safetyButton.addEventListener('click', () => void this.#openSafetyDialog());
    this.#serverButton.addEventListener('click', () => this.#toggleServerPanel(this.#serverButton.getAttribute('aria-pressed') !== 'true'));

    const composerForm = h('form', { class: 'composer' }, this.#composer, this.#sendButton);
    composerForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const text = this.#composer.value.trim();
      if (text === '') {
        return;
      }
      this.#composer.value = '';
      this.#scrollToEnd = true;
      void this.#session.send(text);
    });

    this.#layout = h(
      'div',
      { class: 'layout', 'data-pane': 'list' },
      h(
        'header',
        { class: 'topbar' },
        h('span', { class: 'brand' }, 'Parley'),
        h('span', { class: 'device' }, `device ${device}`),
        this.#connection,
        selfButton,
      ),
      h('nav', { class: 'sidebar', 'aria-label': 'Contacts' }, newContactForm, this.#contactList),
      h(
        'main',
        { class: 'conversation', 'aria-labelledby': 'conversation-title' },
        h('div', { class: 'conversation-header' }, back, this.#title, h('div', { class: 'row' }, this.#safetyButton, this.#serverButton)),
        this.#banner,
        this.#messages,
        composerForm,
      ),
      this.#serverPanel.element,
      this.#notices,
      this.#safetyDialog,
      this.#selfDialog,
    );
    replaceChildren(this.#root, this.#layout);

    session.onChange = () => this.update();
    this.update();
    this.#newContact.focus();
  }

  /** Brings every part of the screen in line with the session. */
  update(): void {
    const session = this.#session;
    const contact = session.openContact;
    const list = this.#messages;
    const atBottom = this.#scrollToEnd || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    this.#scrollToEnd = false;

    this.#connection.textContent = CONNECTION_LABELS[session.connection];
    this.#connection.dataset.status = session.connection;
    this.#layout.dataset.pane = contact === undefined ? 'list' : 'conversation';
    this.#renderContacts();
    this.#renderNotices();

    const opened = contact !== this.#shownContact;
    this.#shownContact = contact;
    if (contact === undefined) {
      this.#title.textContent = 'No conversation open';
      replaceChildren(this.#messages, h('li', { class: 'empty' }, 'Choose a contact, or start a conversation with a profile name.'));
      replaceChildren(this.#banner);
      this.#setComposerEnabled(false, 'Open a conversation first');
      this.#safetyButton.disabled = true;
      this.#serverButton.disabled = true;
      this.#toggleServerPanel(false);
      return;
    }

    this.#title.textContent = contact;
    this.#safetyButton.disabled = false;
    this.#serverButton.disabled = false;
    this.#renderBanner(contact);
    this.#renderMessages(session.messages, opened || atBottom);
    this.#serverPanel.show(contact);

    if (session.isBlocked(contact)) {
      this.#setComposerEnabled(false, `You blocked ${contact}`);
    } else if (session.warning(contact) !== undefined) {
      this.#setComposerEnabled(false, 'Accept or block the new safety number first');
    } else {
      this.#setComposerEnabled(true, 'Write a message');
    }
    if (opened && this.#composer.disabled) {
      this.#title.focus();
    } else if (opened) {
      this.#composer.focus();
    }
  }

  #renderContacts(): void {
    const session = this.#session;
    const items = session.contacts.map(({ profile }) => {
      const unread = session.unread.get(profile) ?? 0;
      const button = h(
        'button',
        {
          type: 'button',
          class: 'contact',
          'data-contact': profile,
          'aria-current': profile === session.openContact ? 'true' : 'false',
        },
        h('span', { class: 'contact-name' }, profile),
        session.warning(profile) !== undefined && h('span', { class: 'badge warn', title: 'Safety number changed' }, '⚠ changed'),
        session.isBlocked(profile) && h('span', { class: 'badge muted' }, 'blocked'),
        unread > 0 && h('span', { class: 'badge', 'aria-label': `${unread} unread` }, String(unread)),
      );
      button.addEventListener('click', () => void session.open(profile));
      return h('li', {}, button);
    });
    if (items.length === 0) {
      items.push(h('li', { class: 'empty' }, 'No conversations yet.'));
    }
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.contact : undefined;
    replaceChildren(this.#contactList, ...items);
    if (focused !== undefined) {
      this.#contactList.querySelector<HTMLButtonElement>(`button[data-contact="${CSS.escape(focused)}"]`)?.focus();
    }
  }

  #renderMessages(messages: ViewMessage[], scrollToEnd: boolean): void {
    const list = this.#messages;
    const items = messages.map((message) => {
      const meta = h('span', { class: 'meta' }, h('time', { datetime: message.at }, shortTime(message.at)));
      if (message.direction === 'out' && message.state !== undefined) {
        meta.append(
          h(
            'span',
            { class: `state state-${message.state}`, 'data-testid': 'message-state', title: message.error ?? '' },
            h('span', { 'aria-hidden': 'true' }, STATE_MARKS[message.state]),
            STATE_LABELS[message.state],
          ),
        );
      }
      return h(
        'li',
        { class: `message ${message.direction}`, 'data-state': message.state ?? null, 'data-testid': 'message' },
        h('span', { class: 'visually-hidden' }, message.direction === 'out' ? 'You: ' : `${this.#session.openContact}: `),
        h('p', { class: 'text' }, message.text),
        meta,
        message.state === 'failed' && message.error !== undefined && h('p', { class: 'failure' }, message.error),
      );
    });
    if (items.length === 0) {
      items.push(h('li', { class: 'empty' }, 'No messages yet. Say hello: only you and your contact can read it.'));
    }
    replaceChildren(list, ...items);
    if (scrollToEnd) {
      list.scrollTop = list.scrollHeight;
    }
  }

  #renderBanner(contact: string): void {
    const session = this.#session;
    const warning = session.warning(contact);
    if (warning !== undefined) {
      const accept = h('button', { type: 'button', class: 'primary', 'data-testid': 'accept-identity' }, 'Accept new safety number');
      const block = h('button', { type: 'button', class: 'danger', 'data-testid': 'block-contact' }, `Block ${contact}`);
      const status = h('p', { class: 'form-error' });
      const act = (run: () => Promise<void>) => {
        accept.disabled = true;
        block.disabled = true;
        run().catch((error: unknown) => {
          status.textContent = errorMessage(error);
          accept.disabled = false;
          block.disabled = false;
        });
      };
      accept.addEventListener('click', () => act(() => session.acceptIdentity(contact)));
      block.addEventListener('click', () => act(() => session.block(contact)));
      replaceChildren(
        this.#banner,
        h(
          'section',
          { class: 'banner warning', role: 'alert', 'aria-labelledby': 'warning-title', 'data-testid': 'identity-warning' },
          h('h3', { id: 'warning-title' }, `${contact}'s safety number changed`),
          h(
            'p',
            {},
            `${contact} may have reinstalled the app or reset their keys, or someone may be trying to intercept the conversation. Compare the new safety number with ${contact} in person or over another channel before you accept it.`,
          ),
          digitGroups(warning.safetyNumber, 4, { 'data-testid': 'warning-safety-number' }),
          h('div', { class: 'row' }, accept, block),
          status,
        ),
      );
      return;
    }

    if (session.isBlocked(contact)) {
      const unblock = h('button', { type: 'button' }, 'Unblock');
      unblock.addEventListener('click', () => void session.unblock(contact));
      replaceChildren(
        this.#banner,
        h(
          'section',
          { class: 'banner muted', 'data-testid': 'blocked-banner' },
          h('p', {}, `You blocked ${contact}. Their messages are hidden and you cannot write to them.`),
          unblock,
        ),
      );
      return;
    }
    replaceChildren(this.#banner);
  }

  #renderNotices(): void {
    replaceChildren(this.#notices, ...this.#session.notices.map((text) => h('p', {}, text)));
  }

  #setComposerEnabled(enabled: boolean, placeholder: string): void {
    this.#composer.disabled = !enabled;
    this.#sendButton.disabled = !enabled;
    this.#composer.placeholder = placeholder;
  }

  async #startConversation(): Promise<void> {
    const name = this.#newContact.value.trim().toLowerCase();
    this.#newContactError.textContent = '';
    if (!PROFILE_NAME_PATTERN.test(name)) {
      this.#newContactError.textContent = `"${name}" is not a profile name: use 3 to 64 characters of a-z, 0-9, ".", "_" and "-".`;
      this.#newContact.focus();
      return;
    }
    try {
      await this.#session.addContact(name);
      this.#newContact.value = '';
    } catch (error) {
      this.#newContactError.textContent = errorMessage(error);
      this.#newContact.focus();
    }
  }

  #toggleServerPanel(open: boolean): void {
    this.#serverButton.setAttribute('aria-pressed', String(open));
    this.#layout.classList.toggle('with-server-panel', open);
    this.#serverPanel.setOpen(open);
    if (!open && document.activeElement === document.body) {
      this.#serverButton.focus();
    }
  }

  async #openSafetyDialog(): Promise<void> {
    const contact = this.#session.openContact;
    if (contact === undefined) {
      return;
    }
    const body = h('div', { class: 'dialog-body' }, h('p', {}, 'Computing…'));
    const close = h('button', { type: 'button', class: 'primary' }, 'Close');
    close.addEventListener('click', () => this.#safetyDialog.close());
    replaceChildren(this.#safetyDialog, h('h2', { id: 'safety-title' }, `Safety number with ${contact}`), body, close);
    this.#safetyDialog.showModal();

    try {
      const number = await this.#session.contactSafetyNumber(contact);
      replaceChildren(
        body,
        digitGroups(number.formatted, 4, { class: 'large', 'data-testid': 'contact-safety-number' }),
        h(
          'p',
          {},
          `${contact} sees the same 60 digits. Compare them in person or over another channel: if they match, nobody is intercepting your messages.`,
        ),
        number.source === 'published' && h('p', { class: 'hint' }, `Computed from the key ${contact} published; it is trusted once you exchange messages.`),
      );
    } catch (error) {
      replaceChildren(body, h('p', { class: 'form-error', role: 'alert' }, errorMessage(error)));
    }
  }

  async #openSelfDialog(): Promise<void> {
    const body = h('div', { class: 'dialog-body' }, h('p', {}, 'Computing…'));
    const reset = h('button', { type: 'button', 'data-testid': 'reset-identity' }, 'Reset my identity key');
    const signOut = h('button', { type: 'button', class: 'danger', 'data-testid': 'sign-out' }, 'Sign out and delete this device');
    const close = h('button', { type: 'button', class: 'primary' }, 'Close');
    const status = h('p', { class: 'form-error', role: 'alert' });
    close.addEventListener('click', () => this.#selfDialog.close());
    reset.addEventListener('click', () => {
      if (reset.dataset.confirm !== 'yes') {
        reset.dataset.confirm = 'yes';
        reset.textContent = 'Press again: contacts will see a warning';
        return;
      }
      reset.disabled = true;
      this.#session.resetIdentity().then(
        () => {
          this.#selfDialog.close();
        },
        (error: unknown) => {
          status.textContent = errorMessage(error);
          reset.disabled = false;
        },
      );
    });
    signOut.addEventListener('click', () => {
      if (signOut.dataset.confirm !== 'yes') {
        signOut.dataset.confirm = 'yes';
        signOut.textContent = 'Press again: keys and messages on this device are deleted';
        return;
      }
      signOut.disabled = true;
      this.#actions.signOut().catch((error: unknown) => {
        status.textContent = errorMessage(error);
        signOut.disabled = false;
      });
    });

    replaceChildren(
      this.#selfDialog,
      h('h2', { id: 'self-title' }, `You are ${this.#session.profile}`),
      body,
      h('div', { class: 'row wrap' }, reset, signOut, close),
      status,
    );
    this.#selfDialog.showModal();

    try {
      const own = await this.#session.ownSafetyCode();
      replaceChildren(
        body,
        h('h3', {}, 'Your safety code'),
        digitGroups(own.code, 3, { class: 'large', 'data-testid': 'own-safety-code' }),
        h('p', {}, 'These 30 digits are your half of every safety number: a contact comparing numbers with you finds them in theirs.'),
        h('p', { class: 'hint' }, 'Identity key: ', h('code', {}, own.identityKey)),
      );
    } catch (error) {
      replaceChildren(body, h('p', { class: 'form-error' }, errorMessage(error)));
    }
  }
}
