/**
 * A real browser for the dashboard's tests: the system Chromium (Debian's `chromium`, which
 * .ci/run installs) driven by playwright-core — no browser is downloaded. Each launch gets a fresh
 * profile directory. Chromium's own processes (zygote, renderers, GPU and network services) come
 * and go as pages load; they belong to the browser the suite started, so the per-test leak check
 * leaves them to the end-of-run check, which requires them gone once the browser is closed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { adopt, descendants } from '../helpers/processes.js';
import { REPO_ROOT } from '../helpers/gateway.js';

/** Where Chromium is: TOLLGATE_CHROMIUM, or Debian's. */
export const CHROMIUM = process.env.TOLLGATE_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

/** The screenshots' fixed size: a laptop screen. */
export const VIEWPORT = { width: 1280, height: 800 };

/**
 * Where screenshots go: docs/images/dashboard with UPDATE_SCREENSHOTS=1 (what docs/dashboard.md
 * shows), else .test-tmp/dashboard-screenshots so that a test run does not change tracked files.
 */
export const SCREENSHOT_DIR = process.env.UPDATE_SCREENSHOTS ? join(REPO_ROOT, 'docs/images/dashboard') : join(REPO_ROOT, '.test-tmp/dashboard-screenshots');

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Marks the browser's current processes as the suite's (see above). */
  adoptProcesses(): void;
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'tollgate-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: VIEWPORT,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const adoptProcesses = () => {
    const all = descendants();
    const roots = all.filter((p) => p.command.includes(profile)).map((p) => p.pid);
    const family = new Set(roots);
    let grew = true;
    while (grew) {
      grew = false;
      for (const p of all) if (family.has(p.ppid) && !family.has(p.pid)) (family.add(p.pid), (grew = true));
    }
    for (const pid of family) adopt(pid);
  };
  return {
    context,
    page,
    adoptProcesses,
    async screenshot(name) {
      await mkdir(SCREENSHOT_DIR, { recursive: true });
      const path = join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path, fullPage: false });
      return path;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
