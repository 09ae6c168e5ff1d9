// Two people chat through the web demo in Chromium. The steps run in order
// on shared pages: sign-in, messages both ways with their states, the server
// view, a reload, an offline period and identity changes. Then come a
// phone-sized screen used with the keyboard alone, and the errors for a
// second tab and for an incompatible store.
import { mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { launchChromium, openPerson, setOffline, unexpectedConsole, type Person } from './browser.ts';

const ARTIFACTS = 'test-artifacts/browser';
const { demoUrl } = inject('demo');
const suffix = randomBytes(3).toString('hex');
const aliceName = `alice-${suffix}`;
const bobName = `bob-${suffix}`;

let browser: Browser;
let alice: Person;
let bob: Person;

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  alice = await openPerson(browser, `${demoUrl}?device=alice`);
  bob = await openPerson(browser, `${demoUrl}?device=bob`);
});

afterAll(async () => {
  await browser?.close();
});

function screenshot(page: Page, name: string): Promise<Buffer> {
  return page.screenshot({ path: `${ARTIFACTS}/${name}.png` });
}

function message(page: Page, text: string) {
  return page.getByTestId('message').filter({ hasText: text });
}

async function waitForState(page: Page, text: string, state: string): Promise<void> {
  await page.locator(`[data-testid="message"][data-state="${state}"]`).filter({ hasText: text }).waitFor({ timeout: 30_000 });
}

/**
 * Saves both pages at a narrower size next to each other in one picture,
 * composed in a blank page of the same browser.
 */
async function composeSideBySide(left: Page, right: Page, name: string): Promise<void> {
  const size = { width: 960, height: 640 };
  const images: string[] = [];
  for (const page of [left, right]) {
    const original = page.viewportSize()!;
    await page.setViewportSize(size);
    await page.waitForTimeout(200);
    images.push((await page.screenshot()).toString('base64'));
    await page.setViewportSize(original);
  }

  const canvas = await browser.newPage({ viewport: { width: size.width * 2 + 48, height: size.height + 32 } });
  await canvas.setContent(
    `<body style="margin:0;padding:16px;display:flex;gap:16px;background:#cbd2de">${images
      .map((image) => `<img style="border-radius:8px;box-shadow:0 2px 8px #0004" src="data:image/png;base64,${image}">`)
      .join('')}</body>`,
  );
  await screenshot(canvas, name);
  await canvas.close();
}

async function register(page: Page, profile: string): Promise<void> {
  await page.getByTestId('profile-input').fill(profile);
  await page.getByTestId('profile-submit').click();
  await page.locator('[data-testid="connection"][data-status="connected"]').waitFor({ timeout: 120_000 });
}

async function openConversation(page: Page, contact: string): Promise<void> {
  await page.getByTestId('new-contact').fill(contact);
  await page.getByTestId('new-contact').press('Enter');
  await page.locator('#conversation-title', { hasText: contact }).waitFor();
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByTestId('composer').fill(text);
  await page.getByTestId('composer').press('Enter');
}

async function safetyNumberIn(page: Page): Promise<string> {
  await page.getByTestId('safety-number').click();
  const digits = page.getByTestId('contact-safety-number');
  await digits.waitFor();
  const text = (await digits.textContent()) ?? '';
  await page.keyboard.press('Escape');
  return text;
}

describe('web demo', () => {
  it('signs in two people and shows the own safety code', async () => {
    await alice.page.getByTestId('sign-in-anonymous').waitFor();
    await screenshot(alice.page, '01-sign-in');
    await alice.page.getByTestId('sign-in-anonymous').click();
    await register(alice.page, aliceName);

    await bob.page.locator('#email').fill(`${bobName}@example.test`);
    await bob.page.locator('#password').fill('correct horse battery');
    await bob.page.getByRole('button', { name: 'Create account' }).click();
    await register(bob.page, bobName);

    await alice.page.getByTestId('self').click();
    const code = alice.page.getByTestId('own-safety-code');
    await code.waitFor();
    expect(await code.textContent()).toMatch(/^\d{5}( \d{5}){5}$/);
    await screenshot(alice.page, '02-own-safety-code');
    await alice.page.keyboard.press('Escape');
  });

  it('exchanges messages both ways with their states', async () => {
    await openConversation(alice.page, bobName);
    await send(alice.page, 'Hello Bob, this is Alice.');
    await waitForState(alice.page, 'Hello Bob', 'delivered');

    const contact = bob.page.getByTestId('contacts').getByRole('button', { name: new RegExp(aliceName) });
    await contact.waitFor();
    expect(await contact.textContent()).toContain('1');
    await contact.click();
    await message(bob.page, 'Hello Bob, this is Alice.').waitFor();

    await send(bob.page, 'Hi Alice! Bob here.');
    await message(alice.page, 'Hi Alice! Bob here.').waitFor({ timeout: 30_000 });
    await waitForState(bob.page, 'Hi Alice!', 'delivered');

    await send(alice.page, 'Live delivery works.');
    await message(bob.page, 'Live delivery works.').waitFor({ timeout: 30_000 });
    await waitForState(alice.page, 'Live delivery works.', 'delivered');
    await screenshot(alice.page, '03-conversation');
  });

  it('shows the same safety number on both sides', async () => {
    const seenByAlice = await safetyNumberIn(alice.page);
    const seenByBob = await safetyNumberIn(bob.page);
    expect(seenByAlice).toMatch(/^\d{5}( \d{5}){11}$/);
    expect(seenByBob).toBe(seenByAlice);
  });

  it('shows encrypted rows on the server while receiving is paused', async () => {
    await bob.page.getByTestId('server-view').click();
    await bob.page.getByTestId('pause-receiving').click();
    await bob.page.locator('[data-testid="connection"][data-status="paused"]').waitFor();

    const secret = 'The eagle lands at noon.';
    await send(alice.page, secret);
    await waitForState(alice.page, secret, 'sent');

    const row = bob.page.getByTestId('server-row');
    await row.first().waitFor({ timeout: 30_000 });
    const shown = (await bob.page.getByTestId('server-rows').textContent()) ?? '';
    expect(shown).toContain('"type": "message"');
    expect(shown).not.toContain('eagle');
    expect(await message(bob.page, secret).count()).toBe(0);
    await screenshot(bob.page, '04-server-view');
    await composeSideBySide(alice.page, bob.page, '04-sent-and-stored');

    await bob.page.getByTestId('pause-receiving').click();
    await message(bob.page, secret).waitFor({ timeout: 30_000 });
    await waitForState(alice.page, secret, 'delivered');
    await bob.page.getByTestId('server-summary').filter({ hasText: 'No rows' }).waitFor({ timeout: 30_000 });
    await bob.page.getByTestId('server-view').click();
  });

  it('keeps the conversation across a reload', async () => {
    await alice.page.reload();
    await alice.page.locator('[data-testid="connection"][data-status="connected"]').waitFor({ timeout: 60_000 });
    await alice.page.getByTestId('contacts').getByRole('button', { name: new RegExp(bobName) }).click();

    await message(alice.page, 'Hello Bob, this is Alice.').waitFor();
    await message(alice.page, 'Hi Alice! Bob here.').waitFor();
    await waitForState(alice.page, 'Live delivery works.', 'delivered');

    await send(alice.page, 'Still here after a reload.');
    await message(bob.page, 'Still here after a reload.').waitFor({ timeout: 30_000 });
    await waitForState(alice.page, 'Still here after a reload.', 'delivered');
  });

  it('catches up after going offline', async () => {
    await setOffline(bob, true);
    await bob.page.locator('[data-testid="connection"][data-status="offline"]').waitFor();

    await send(alice.page, 'First while you were offline.');
    await send(alice.page, 'Second while you were offline.');
    await waitForState(alice.page, 'Second while you were offline.', 'sent');
    await waitForState(alice.page, 'First while you were offline.', 'sent');
    await bob.page.waitForTimeout(2000);
    expect(await message(bob.page, 'First while you were offline.').count()).toBe(0);
    expect(await alice.page.locator('[data-testid="message"][data-state="delivered"]').filter({ hasText: 'while you were offline' }).count()).toBe(0);
    await screenshot(bob.page, '05-offline');

    await setOffline(bob, false);
    await message(bob.page, 'First while you were offline.').waitFor({ timeout: 60_000 });
    await message(bob.page, 'Second while you were offline.').waitFor({ timeout: 30_000 });
    await waitForState(alice.page, 'Second while you were offline.', 'delivered');

    const texts = await bob.page.getByTestId('message').locator('.text').allTextContents();
    expect(texts.indexOf('First while you were offline.')).toBeLessThan(texts.indexOf('Second while you were offline.'));
  });

  it('warns about an identity change and lets the user accept it', async () => {
    await bob.page.getByTestId('self').click();
    await bob.page.getByTestId('reset-identity').click();
    await bob.page.getByTestId('reset-identity').click();
    await bob.page.getByTestId('self-dialog').waitFor({ state: 'hidden', timeout: 120_000 });
    await bob.page.locator('[data-testid="connection"][data-status="connected"]').waitFor({ timeout: 60_000 });

    await send(bob.page, 'New keys, same Bob.');
    const warning = alice.page.getByTestId('identity-warning');
    await warning.waitFor({ timeout: 30_000 });
    expect(await warning.textContent()).toContain(`${bobName}'s safety number changed`);
    expect(await alice.page.getByTestId('warning-safety-number').textContent()).toMatch(/^\d{5}( \d{5}){11}$/);
    expect(await alice.page.getByTestId('composer').isDisabled()).toBe(true);
    await message(alice.page, 'New keys, same Bob.').waitFor();
    await screenshot(alice.page, '06-identity-warning');

    await alice.page.getByTestId('accept-identity').click();
    await warning.waitFor({ state: 'hidden' });
    expect(await alice.page.getByTestId('composer').isDisabled()).toBe(false);
    await waitForState(bob.page, 'New keys, same Bob.', 'delivered');

    const seenByAlice = await safetyNumberIn(alice.page);
    const seenByBob = await safetyNumberIn(bob.page);
    expect(seenByBob).toBe(seenByAlice);

    await send(alice.page, 'Accepted your new safety number.');
    await message(bob.page, 'Accepted your new safety number.').waitFor({ timeout: 30_000 });
    await waitForState(alice.page, 'Accepted your new safety number.', 'delivered');
  });

  it('lets the user block a changed identity', async () => {
    await bob.page.getByTestId('self').click();
    await bob.page.getByTestId('reset-identity').click();
    await bob.page.getByTestId('reset-identity').click();
    await bob.page.getByTestId('self-dialog').waitFor({ state: 'hidden', timeout: 120_000 });
    await bob.page.locator('[data-testid="connection"][data-status="connected"]').waitFor({ timeout: 60_000 });

    await send(bob.page, 'Second reset, please trust me.');
    await alice.page.getByTestId('identity-warning').waitFor({ timeout: 30_000 });
    await alice.page.getByTestId('block-contact').click();

    await alice.page.getByTestId('blocked-banner').waitFor();
    expect(await message(alice.page, 'Second reset, please trust me.').count()).toBe(0);
    expect(await alice.page.getByTestId('composer').isDisabled()).toBe(true);
    expect(await alice.page.getByTestId('contacts').textContent()).toContain('blocked');
    await waitForState(bob.page, 'Second reset, please trust me.', 'sent');

    await alice.page.getByRole('button', { name: 'Unblock' }).click();
    await message(alice.page, 'Second reset, please trust me.').waitFor();
    expect(await alice.page.getByTestId('composer').isDisabled()).toBe(false);
  });

  it('works on a phone-sized screen with the keyboard alone', async () => {
    const page = bob.page;
    await page.setViewportSize({ width: 390, height: 780 });
    await page.getByTestId('back').click();
    await page.getByTestId('contacts').waitFor();
    expect(await page.locator('.conversation').isVisible()).toBe(false);
    await screenshot(page, '07-phone-contacts');

    await page.getByTestId('new-contact').focus();
    let focusedContact: string | undefined;
    for (let presses = 0; presses < 10 && focusedContact !== aliceName; presses++) {
      await page.keyboard.press('Tab');
      focusedContact = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.contact);
    }
    expect(focusedContact).toBe(aliceName);
    await page.keyboard.press('Enter');

    await page.locator('#conversation-title', { hasText: aliceName }).waitFor();
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('composer');
    expect(await page.locator('.sidebar').isVisible()).toBe(false);
    await page.keyboard.type('Typed with the keyboard only.');
    await page.keyboard.press('Enter');
    await message(alice.page, 'Typed with the keyboard only.').waitFor({ timeout: 30_000 });
    await waitForState(page, 'Typed with the keyboard only.', 'delivered');
    await screenshot(page, '08-phone-conversation');

    await page.getByTestId('server-view').press('Enter');
    await page.getByTestId('server-panel').waitFor();
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('pause-receiving');
    await screenshot(page, '08-phone-server-view');
    await page.keyboard.press('Escape');
    await page.getByTestId('server-panel').waitFor({ state: 'hidden' });

    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBe(0);
  });

  it('rejects a second tab of the same device', async () => {
    const second = await alice.context.newPage();
    await second.goto(`${demoUrl}?device=alice`);
    const error = second.getByTestId('fatal-error');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/already open in another tab/);
    expect(await second.locator('h1').textContent()).toBe('This device’s key store is open in another tab');
    await second.close();
  });

  it('reports a store written by a newer version', async () => {
    const person = await openPerson(browser, `${demoUrl}?device=carol`);
    await person.page.evaluate(
      () =>
        new Promise<void>((resolve, reject) => {
          const request = indexedDB.open('parley-demo:future', 7);
          request.onupgradeneeded = () => {
            request.result.createObjectStore('entries');
          };
          request.onsuccess = () => {
            request.result.close();
            resolve();
          };
          request.onerror = () => reject(request.error);
        }),
    );
    await person.page.goto(`${demoUrl}?device=future`);

    const error = person.page.getByTestId('fatal-error');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/written by a newer version of the app/);
    await screenshot(person.page, '09-incompatible-store');

    await person.page.getByRole('button', { name: /start over/ }).click();
    await person.page.getByTestId('sign-in-anonymous').waitFor();
    expect(unexpectedConsole(person)).toEqual([]);
    await person.context.close();
  });

  it('explains that a profile belongs to one device', async () => {
    const person = await openPerson(browser, `${demoUrl}?device=bob-laptop`);
    await person.page.locator('#email').fill(`${bobName}@example.test`);
    await person.page.locator('#password').fill('correct horse battery');
    await person.page.getByRole('button', { name: 'Sign in' }).click();

    await person.page.getByTestId('profile-input').fill(`${bobName}-2`);
    await person.page.getByTestId('profile-submit').click();
    const error = person.page.getByTestId('profile-error');
    await error.filter({ hasText: `this account already owns the profile "${bobName}"` }).waitFor({ timeout: 60_000 });
    await screenshot(person.page, '10-second-device');
    await person.context.close();
  });

  it('signs out and deletes the device', async () => {
    await alice.page.getByTestId('self').click();
    await alice.page.getByTestId('sign-out').click();
    await alice.page.getByTestId('sign-out').click();
    await alice.page.getByTestId('sign-in-anonymous').click();

    // The store was deleted, so the new user starts without a profile.
    await alice.page.getByTestId('profile-input').waitFor({ timeout: 30_000 });
  });

  it('logs no console errors or warnings', () => {
    expect(unexpectedConsole(alice)).toEqual([]);
    expect(unexpectedConsole(bob)).toEqual([]);
  });
});
