/**
 * Real browsers for the dashboard's tests, the system's own (no browser is downloaded):
 * - Chromium (Debian's `chromium`) driven by playwright-core;
 * - Firefox (Debian's `firefox-esr`) driven by puppeteer-core over WebDriver BiDi. Playwright
 *   drives only its own patched Firefox (a download), and its BiDi mode asks for commands Firefox
 *   ESR lacks (`emulation.setMediaFeaturesOverride`: the context does not even open).
 * The scenarios (dashboard.ts) are written once against `UiPage`/`UiLocator`, a small subset of
 * Playwright's page and locator API: Playwright's own locators satisfy it, and for Firefox a few
 * lines below implement it on puppeteer-core with the same meaning (exact accessible names,
 * substring text, strict single matches for actions, waiting until visible).
 *
 * Each launch gets a fresh profile directory. The browser's own processes (renderers, content
 * processes, GPU and network services) come and go as pages load; they belong to the browser the
 * suite started, so the per-test leak check leaves them to the end-of-run check, which requires
 * them gone once the browser is closed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page as PlaywrightPage } from 'playwright-core';
import { adopt, descendants } from '../helpers/processes.js';
import { REPO_ROOT } from '../helpers/gateway.js';

export type Engine = 'chromium' | 'firefox';

/** Where each browser is: TOLLGATE_CHROMIUM / TOLLGATE_FIREFOX, or Debian's. */
export const EXECUTABLES: Record<Engine, string | undefined> = {
  chromium: process.env.TOLLGATE_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)),
  firefox: process.env.TOLLGATE_FIREFOX ?? ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find((p) => existsSync(p)),
};

/** What to install when a browser is missing (.ci/run installs both). */
export const PACKAGES: Record<Engine, string> = { chromium: 'chromium', firefox: 'firefox-esr' };

/** The screenshots' fixed size: a laptop screen. */
export const VIEWPORT = { width: 1280, height: 800 };

/**
 * Where screenshots go: docs/images/dashboard with UPDATE_SCREENSHOTS=1 (what docs/dashboard.md
 * shows; Firefox's under firefox/), else .test-tmp/dashboard-screenshots so that a test run does
 * not change tracked files.
 */
export function screenshotDir(engine: Engine): string {
  const base = process.env.UPDATE_SCREENSHOTS ? join(REPO_ROOT, 'docs/images/dashboard') : join(REPO_ROOT, '.test-tmp/dashboard-screenshots');
  return engine === 'chromium' ? base : join(base, engine);
}

export type Role = 'button' | 'cell' | 'heading' | 'link' | 'row' | 'searchbox' | 'status' | 'tab';

/** Finding elements: names and labels match exactly when `exact`, text as a substring. */
export interface UiScope {
  locator(css: string): UiLocator;
  getByRole(role: Role, options?: { name?: string; exact?: boolean }): UiLocator;
  getByLabel(text: string, options?: { exact?: boolean }): UiLocator;
  getByText(text: string): UiLocator;
  getByTestId(id: string): UiLocator;
}

export interface UiLocator extends UiScope {
  first(): UiLocator;
  nth(index: number): UiLocator;
  /** Until the one element is visible (or, with `detached`, until none is there). */
  waitFor(options?: { state?: 'visible' | 'detached'; timeout?: number }): Promise<void>;
  click(): Promise<void>;
  fill(value: string): Promise<void>;
  check(): Promise<void>;
  selectOption(value: string): Promise<unknown>;
  textContent(): Promise<string | null>;
  inputValue(): Promise<string>;
  getAttribute(name: string): Promise<string | null>;
  isDisabled(): Promise<boolean>;
  count(): Promise<number>;
  scrollIntoViewIfNeeded(): Promise<void>;
}

export interface UiPage extends UiScope {
  goto(url: string): Promise<unknown>;
  reload(): Promise<unknown>;
  /** An expression evaluated in the page (a string: the page's DOM types are not the test's). */
  evaluate<T>(expression: string): Promise<T>;
  /** `fn(arg)` run in the page. */
  evaluateWith<T, A>(fn: (arg: A) => T | Promise<T>, arg: A): Promise<T>;
  press(key: string): Promise<void>;
  /** Accepts the next confirm() the page shows. */
  acceptNextDialog(): void;
  /** Every URL the page requests from now on. */
  onRequest(listener: (url: string) => void): void;
}

export interface TestBrowser {
  engine: Engine;
  page: UiPage;
  /** Every cookie the browser holds (its profile is fresh). */
  cookies(): Promise<unknown[]>;
  /** Marks the browser's current processes as the suite's (see above). */
  adoptProcesses(): void;
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(engine: Engine): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), `tollgate-${engine}-`));
  const opened = engine === 'chromium' ? await openChromium(profile) : await openFirefox(profile);
  const adoptProcesses = () => {
    const all = descendants();
    const family = new Set(all.filter((p) => p.command.includes(profile)).map((p) => p.pid));
    let grew = true;
    while (grew) {
      grew = false;
      for (const p of all) if (family.has(p.ppid) && !family.has(p.pid)) (family.add(p.pid), (grew = true));
    }
    for (const pid of family) adopt(pid);
  };
  return {
    engine,
    page: opened.page,
    cookies: opened.cookies,
    adoptProcesses,
    async screenshot(name) {
      const dir = screenshotDir(engine);
      await mkdir(dir, { recursive: true });
      const path = join(dir, `${name}.png`);
      await opened.screenshot(path);
      return path;
    },
    async close() {
      await opened.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

interface Opened {
  page: UiPage;
  cookies(): Promise<unknown[]>;
  screenshot(path: string): Promise<void>;
  close(): Promise<void>;
}

async function openChromium(profile: string): Promise<Opened> {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: EXECUTABLES.chromium,
    headless: true,
    viewport: VIEWPORT,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page: PlaywrightPage = context.pages()[0] ?? (await context.newPage());
  // Playwright's names match as substrings unless told otherwise; the scenarios mean them exactly.
  const ui: UiPage = {
    locator: (css) => page.locator(css),
    getByRole: (role, options) => page.getByRole(role, { exact: true, ...options }),
    getByLabel: (text, options) => page.getByLabel(text, options),
    getByText: (text) => page.getByText(text),
    getByTestId: (id) => page.getByTestId(id),
    goto: (url) => page.goto(url),
    reload: () => page.reload(),
    evaluate: (expression) => page.evaluate(expression),
    evaluateWith: (fn, arg) => page.evaluate(fn as (a: unknown) => never, arg),
    press: (key) => page.keyboard.press(key),
    acceptNextDialog: () => void page.once('dialog', (dialog) => void dialog.accept()),
    onRequest: (listener) => void page.on('request', (req) => listener(req.url())),
  };
  return {
    page: ui,
    cookies: () => context.cookies(),
    screenshot: async (path) => void (await page.screenshot({ path, fullPage: false })),
    close: () => context.close(),
  };
}

/**
 * The part of puppeteer-core used here, typed by hand and the package loaded when Firefox is: so
 * the type-check and the Chromium tests do not depend on it being installed.
 */
interface Puppeteer {
  launch(options: Record<string, unknown>): Promise<PuppeteerBrowser>;
}
interface PuppeteerBrowser {
  pages(): Promise<PuppeteerPage[]>;
  newPage(): Promise<PuppeteerPage>;
  cookies(): Promise<unknown[]>;
  close(): Promise<void>;
}
interface PuppeteerPage {
  setViewport(viewport: { width: number; height: number }): Promise<void>;
  goto(url: string): Promise<unknown>;
  reload(): Promise<unknown>;
  evaluate<T>(expression: string | ((arg: never) => unknown), arg?: unknown): Promise<T>;
  $$(selector: string): Promise<ElementHandle[]>;
  evaluateHandle<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): Promise<JSHandle>;
  keyboard: { press(key: string): Promise<void> };
  once(event: 'dialog', listener: (dialog: { accept(): Promise<void> }) => void): unknown;
  on(event: 'request', listener: (request: { url(): string }) => void): unknown;
  screenshot(options: { path: string }): Promise<unknown>;
}
interface JSHandle {
  getProperties(): Promise<Map<string, JSHandle>>;
  asElement(): ElementHandle | null;
  dispose(): Promise<void>;
}
interface ElementHandle extends JSHandle {
  $$(selector: string): Promise<ElementHandle[]>;
  evaluate<T, A extends unknown[]>(fn: (element: any, ...args: A) => T, ...args: A): Promise<T>;
  evaluateHandle<A extends unknown[]>(fn: (element: any, ...args: A) => unknown, ...args: A): Promise<JSHandle>;
  isVisible(): Promise<boolean>;
  click(): Promise<void>;
  focus(): Promise<void>;
  select(...values: string[]): Promise<string[]>;
  scrollIntoView(): Promise<void>;
}

async function openFirefox(profile: string): Promise<Opened> {
  const puppeteerModule = 'puppeteer-core';
  const loaded = (await import(puppeteerModule).catch((err: Error) => {
    throw new Error(`puppeteer-core, a devDependency, is not installed (npm install): ${err.message}`);
  })) as { default: Puppeteer };
  const puppeteer = loaded.default;
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: EXECUTABLES.firefox,
    headless: true,
    userDataDir: profile,
    defaultViewport: VIEWPORT,
    // No update checks, telemetry or remote settings: the page's requests are the only ones.
    extraPrefsFirefox: { 'app.update.enabled': false, 'datareporting.policy.dataSubmissionEnabled': false, 'toolkit.telemetry.enabled': false, 'network.captive-portal-service.enabled': false },
  });
  let page: PuppeteerPage;
  try {
    page = (await browser.pages())[0] ?? (await browser.newPage());
    // The first tab keeps the window's size (1366×768 headless) unless told.
    await page.setViewport(VIEWPORT);
  } catch (err) {
    // Nobody holds the browser yet to close it.
    await browser.close().catch(() => {});
    throw err;
  }
  const ui: UiPage = {
    ...scope(page, []),
    goto: (url) => page.goto(url),
    reload: () => page.reload(),
    evaluate: (expression) => page.evaluate(expression),
    evaluateWith: (fn, arg) => page.evaluate(fn as (a: never) => unknown, arg),
    press: (key) => page.keyboard.press(key),
    acceptNextDialog: () => void page.once('dialog', (dialog) => void dialog.accept()),
    onRequest: (listener) => void page.on('request', (req) => listener(req.url())),
  };
  return {
    page: ui,
    cookies: () => browser.cookies(),
    screenshot: async (path) => void (await page.screenshot({ path })),
    close: () => browser.close(),
  };
}

// ---- UiLocator on puppeteer-core ----

/**
 * One step from a set of roots to the elements under them. Roles go to the browser's
 * accessibility tree (puppeteer's ARIA selector: WebDriver BiDi's locateNodes); the other steps
 * run in the page, several at once, as a query through puppeteer's selector engine costs several
 * round trips over BiDi.
 */
type Step = { aria: string } | { css: string } | { label: string; exact: boolean } | { text: string } | { nth: number };
type PageStep = Exclude<Step, { aria: string }>;

const DEFAULT_TIMEOUT_MS = 15_000;
const POLL_MS = 50;

/** A quoted P-selector attribute value. */
const quoted = (value: string) => JSON.stringify(value);

function scope(page: PuppeteerPage, steps: Step[]): UiScope {
  const then = (step: Step) => locator(page, [...steps, step]);
  return {
    locator: (css) => then({ css }),
    // The accessible name matches exactly, as Playwright's with `exact: true`.
    getByRole: (role, options) => then({ aria: `::-p-aria(${options?.name === undefined ? '' : `[name=${quoted(options.name)}]`}[role=${quoted(role)}])` }),
    getByLabel: (text, options) => then({ label: text, exact: options?.exact ?? false }),
    getByText: (text) => then({ text }),
    getByTestId: (id) => then({ css: `[data-testid=${quoted(id)}]` }),
  };
}

async function resolve(page: PuppeteerPage, steps: Step[]): Promise<ElementHandle[]> {
  // undefined: the whole document.
  let found: ElementHandle[] | undefined;
  for (let i = 0; i < steps.length; ) {
    const step = steps[i];
    if ('aria' in step) {
      if (found === undefined) found = await page.$$(step.aria);
      else found = (await Promise.all(found.map((root) => root.$$(step.aria)))).flat();
      i++;
      continue;
    }
    let j = i;
    while (j < steps.length && !('aria' in steps[j])) j++;
    found = await inPage(page, steps.slice(i, j) as PageStep[], found);
    i = j;
  }
  return found ?? [];
}

/**
 * CSS, text (the deepest elements whose text contains it, as Playwright's and puppeteer's text
 * selectors), label (by <label>, aria-labelledby or aria-label, as Playwright's getByLabel) and
 * index steps from `roots` (or the document), in one call into the page.
 */
async function inPage(page: PuppeteerPage, steps: PageStep[], roots: ElementHandle[] | undefined): Promise<ElementHandle[]> {
  const list = await page.evaluateHandle(
    // Runs in the page: its DOM types are not the test's, hence the `any`s; and no named inner
    // function, which the test's TypeScript loader would wrap in a helper the page does not have.
    (batch: PageStep[], fromDocument: boolean, ...given: any[]) => {
      const doc = (globalThis as any).document;
      let current: any[] = fromDocument ? [doc.documentElement] : given;
      for (const step of batch) {
        if ('nth' in step) {
          const picked = current[step.nth < 0 ? current.length + step.nth : step.nth];
          current = picked ? [picked] : [];
          continue;
        }
        const next = new Set<any>();
        for (const root of current) {
          if ('css' in step) {
            for (const el of root.querySelectorAll(step.css)) next.add(el);
          } else if ('text' in step) {
            // The root itself too: a status whose own text it is (as Playwright's getByText).
            for (const el of [root, ...root.querySelectorAll('*')]) {
              if (el.tagName === 'SCRIPT' || el.tagName === 'STYLE') continue;
              if (!String(el.textContent).replace(/\s+/g, ' ').includes(step.text)) continue;
              let deeper = false;
              for (const child of el.children) if (String(child.textContent).replace(/\s+/g, ' ').includes(step.text)) deeper = true;
              if (!deeper) next.add(el);
            }
          } else {
            const candidates: Array<[any, string]> = [];
            for (const label of root.querySelectorAll('label')) if (label.control) candidates.push([label.control, label.textContent]);
            for (const el of root.querySelectorAll('[aria-label]')) candidates.push([el, el.getAttribute('aria-label')]);
            for (const el of root.querySelectorAll('[aria-labelledby]')) {
              const ids: string[] = (el.getAttribute('aria-labelledby') ?? '').split(/\s+/);
              candidates.push([el, ids.map((id) => doc.getElementById(id)?.textContent ?? '').join(' ')]);
            }
            for (const [el, name] of candidates) {
              const normalized = String(name ?? '').replace(/\s+/g, ' ').trim();
              if (step.exact ? normalized === step.label : normalized.toLowerCase().includes(step.label.toLowerCase())) next.add(el);
            }
          }
        }
        current = [...next];
      }
      return current;
    },
    steps,
    roots === undefined,
    ...(roots ?? []),
  );
  const properties = await list.getProperties();
  await list.dispose();
  return [...properties.values()].map((p) => p.asElement()).filter((e): e is ElementHandle => e !== null);
}

function locator(page: PuppeteerPage, steps: Step[]): UiLocator {
  const describe = () => JSON.stringify(steps);
  /** The one element, once it is there and visible: strict, as Playwright's actions are. */
  const one = async (state: 'visible' | 'attached' = 'visible', timeout = DEFAULT_TIMEOUT_MS): Promise<ElementHandle> => {
    const deadline = Date.now() + timeout;
    for (;;) {
      const found = await resolve(page, steps);
      if (found.length > 1) throw new Error(`strict mode violation: ${describe()} matches ${found.length} elements`);
      if (found.length === 1 && (state === 'attached' || (await found[0].isVisible()))) return found[0];
      if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${describe()}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };
  return {
    ...scope(page, steps),
    first: () => locator(page, [...steps, { nth: 0 }]),
    nth: (index) => locator(page, [...steps, { nth: index }]),
    async waitFor(options) {
      const timeout = options?.timeout ?? DEFAULT_TIMEOUT_MS;
      if (options?.state !== 'detached') return void (await one('visible', timeout));
      const deadline = Date.now() + timeout;
      while ((await resolve(page, steps)).length > 0) {
        if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${describe()} to go`);
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    },
    click: async () => (await one()).click(),
    async fill(value) {
      const el = await one();
      // As Playwright's fill: the whole value at once, then one input event (not a key per character).
      await el.focus();
      await el.evaluate((input: any, text: string) => {
        input.value = text;
        input.dispatchEvent(new input.ownerDocument.defaultView.Event('input', { bubbles: true }));
      }, value);
    },
    async check() {
      const el = await one();
      if (!(await el.evaluate((input: any) => input.checked === true))) await el.click();
    },
    selectOption: async (value) => (await one()).select(value),
    // Reads, like Playwright's, need the element there, not visible.
    textContent: async () => (await one('attached')).evaluate((el) => el.textContent),
    inputValue: async () => (await one('attached')).evaluate((el: any) => String(el.value)),
    getAttribute: async (name) => (await one('attached')).evaluate((el, attribute) => el.getAttribute(attribute), name),
    isDisabled: async () => (await one('attached')).evaluate((el: any) => el.disabled === true),
    count: async () => (await resolve(page, steps)).length,
    scrollIntoViewIfNeeded: async () => (await one()).scrollIntoView(),
  };
}
