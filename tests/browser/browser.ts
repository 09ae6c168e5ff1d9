/**
 * Debian's Chromium driven by playwright-core. Playwright's own browser
 * downloads are not used: the tests need `/usr/bin/chromium`.
 */
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Starts headless Chromium without the sandbox (the tests run as root) and
 * without background traffic. Playwright gives each launch a fresh
 * `--user-data-dir` of its own and deletes it on close.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A console message or page error, kept to assert that a page logged no errors. */
export interface ConsoleEntry {
  type: string;
  text: string;
  /** Whether the page was emulating offline when the entry was logged. */
  offline: boolean;
}

/** One person: a browser context with its own storage, and the page of the demo in it. */
export interface Person {
  context: BrowserContext;
  page: Page;
  console: ConsoleEntry[];
  offline: boolean;
}

/** Opens the demo in a new context of `browser`, recording console errors and warnings. */
export async function openPerson(browser: Browser, url: string, viewport = { width: 1280, height: 800 }): Promise<Person> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const person: Person = { context, page, console: [], offline: false };
  const record = (type: string, text: string) => person.console.push({ type, text, offline: person.offline });
  page.on('console', (message: ConsoleMessage) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      record(message.type(), message.text());
    }
  });
  page.on('pageerror', (error) => record('pageerror', error.message));
  await page.goto(url);
  return person;
}

/** Switches the person's network emulation on or off. */
export async function setOffline(person: Person, offline: boolean): Promise<void> {
  person.offline = offline;
  await person.context.setOffline(offline);
}

/**
 * Returns the console errors, warnings and page errors of `person`, except
 * failed network requests logged while the page was offline on purpose.
 */
export function unexpectedConsole(person: Person): ConsoleEntry[] {
  return person.console.filter((entry) => !(entry.offline && /ERR_INTERNET_DISCONNECTED|WebSocket connection .* failed|Failed to fetch/i.test(entry.text)));
}
