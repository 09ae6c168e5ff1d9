/**
 * The screens before the chat: sign-in, choosing a profile, and errors that
 * stop the page from starting.
 */
import { PROFILE_NAME_PATTERN } from '@parley/client';

import { errorMessage, h, replaceChildren } from '../dom.ts';

/** Actions of the sign-in screen; each resolves once signed in or throws a message for the user. */
export interface SignInActions {
  anonymous(): Promise<void>;
  email(email: string, password: string, mode: 'sign-in' | 'sign-up'): Promise<void>;
}

/** Renders the sign-in screen. */
export function renderSignIn(root: HTMLElement, device: string, actions: SignInActions): void {
  const status = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'sign-in-error' });
  const busy = async (button: HTMLButtonElement, action: () => Promise<void>) => {
    status.textContent = '';
    for (const control of root.querySelectorAll('button')) {
      control.disabled = true;
    }
    const label = button.textContent;
    button.textContent = 'Signing in…';
    try {
      await action();
    } catch (error) {
      status.textContent = errorMessage(error);
      for (const control of root.querySelectorAll('button')) {
        control.disabled = false;
      }
      button.textContent = label;
    }
  };

  const anonymous = h('button', { type: 'button', class: 'primary', 'data-testid': 'sign-in-anonymous' }, 'Continue without an account');
  anonymous.addEventListener('click', () => void busy(anonymous, () => actions.anonymous()));

  const email = h('input', { id: 'email', type: 'email', autocomplete: 'username', required: true });
  const password = h('input', { id: 'password', type: 'password', autocomplete: 'current-password', minlength: 6, required: true });
  const signIn = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const signUp = h('button', { type: 'button' }, 'Create account');
  const form = h(
    'form',
    { class: 'stack', 'aria-labelledby': 'email-heading' },
    h('h2', { id: 'email-heading' }, 'With email and password'),
    h('label', { for: 'email' }, 'Email'),
    email,
    h('label', { for: 'password' }, 'Password (at least 6 characters)'),
    password,
    h('div', { class: 'row' }, signIn, signUp),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(signIn, () => actions.email(email.value, password.value, 'sign-in'));
  });
  signUp.addEventListener('click', () => {
    if (form.reportValidity()) {
      void busy(signUp, () => actions.email(email.value, password.value, 'sign-up'));
    }
  });

  replaceChildren(
    root,
    h(
      'main',
      { class: 'card', 'aria-labelledby': 'title' },
      h('h1', { id: 'title' }, 'Parley'),
      h('p', { class: 'lead' }, 'End-to-end encrypted chat over Supabase. The server relays encrypted messages and never sees their text.'),
      h('p', { class: 'hint' }, 'Device: ', h('strong', {}, device), '. Open another tab with ?device=bob to chat as a second person.'),
      h('section', { class: 'stack', 'aria-labelledby': 'anonymous-heading' }, h('h2', { id: 'anonymous-heading' }, 'Quick start'), anonymous),
      form,
      status,
    ),
  );
  anonymous.focus();
}

/** Renders the profile screen; `register` throws a message for the user. */
export function renderProfile(root: HTMLElement, register: (profile: string) => Promise<void>, signOut: () => Promise<void>): void {
  const input = h('input', {
    id: 'profile',
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'profile-rule',
    'data-testid': 'profile-input',
  });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'profile-submit' }, 'Create my keys');
  const status = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'profile-error' });
  const form = h(
    'form',
    { class: 'stack' },
    h('label', { for: 'profile' }, 'Profile name'),
    input,
    h('p', { id: 'profile-rule', class: 'hint' }, '3 to 64 characters: a-z, 0-9, ".", "_" and "-", starting with a letter or digit. Others find you by this name.'),
    submit,
    status,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = input.value.trim();
    if (!PROFILE_NAME_PATTERN.test(name)) {
      status.textContent = `"${name}" is not a valid profile name: use 3 to 64 characters of a-z, 0-9, ".", "_" and "-", starting with a letter or digit.`;
      input.focus();
      return;
    }
    status.textContent = '';
    submit.disabled = true;
    submit.textContent = 'Creating keys…';
    register(name).catch((error: unknown) => {
      status.textContent = errorMessage(error);
      submit.disabled = false;
      submit.textContent = 'Create my keys';
      input.focus();
    });
  });

  const leave = h('button', { type: 'button', class: 'link' }, 'Sign out');
  leave.addEventListener('click', () => void signOut());

  replaceChildren(
    root,
    h(
      'main',
      { class: 'card', 'aria-labelledby': 'title' },
      h('h1', { id: 'title' }, 'Choose a profile'),
      h('p', { class: 'lead' }, 'Your browser generates an identity key and prekeys, keeps the private halves in IndexedDB and publishes the public halves.'),
      form,
      leave,
    ),
  );
  input.focus();
}

/** A way out of a fatal error, as a button. */
export interface FatalAction {
  label: string;
  run: () => Promise<void>;
}

/** Renders an error that stops the page, with buttons for the ways out. */
export function renderFatal(root: HTMLElement, title: string, message: string, actions: FatalAction[] = []): void {
  const text = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'fatal-error' }, message);
  const buttons = actions.map((action, index) => {
    const button = h('button', { type: 'button', class: index === 0 ? 'primary' : 'danger' }, action.label);
    button.addEventListener('click', () => {
      button.disabled = true;
      action.run().catch((error: unknown) => {
        button.disabled = false;
        text.textContent = errorMessage(error);
      });
    });
    return button;
  });
  replaceChildren(root, h('main', { class: 'card', 'aria-labelledby': 'title' }, h('h1', { id: 'title' }, title), text, h('div', { class: 'stack' }, ...buttons)));
  buttons[0]?.focus();
}
