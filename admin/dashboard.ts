/**
 * The dashboard's static files (ui/, built by `npm run build` into dist/ui) at `/ui/` on the Admin
 * API's listener, so the page inherits the listener's address and allow-list and talks to the API
 * on its own origin. The files are public (they hold no data); everything the page shows comes
 * from the Admin API with the key the operator typed, sent as `X-API-KEY` — never a cookie, so
 * another site cannot make a browser act with it.
 *
 * Every file is served with a strict Content-Security-Policy: scripts and styles only from this
 * origin (no inline code, no eval), requests only to this origin, no frames, no forms posting
 * elsewhere.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context, Next } from 'koa';

export const DASHBOARD_PATH = '/ui';

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  // The files change with each build; the browser asks again rather than run an old one against a new API.
  'Cache-Control': 'no-cache',
};

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  map: 'application/json',
};

/** A file name the build writes: no directories, so no path can leave the folder. */
const FILE_NAME = /^[a-z0-9][a-z0-9._-]*\.(html|js|css|svg|map)$/;

/**
 * Serves `dir` at `/ui/`: `/ui` redirects to `/ui/`, `/ui/` is index.html, `/ui/<file>` a built
 * file. Other paths pass on to the Admin API.
 */
export function dashboard(dir: string) {
  return async (ctx: Context, next: Next) => {
    if (ctx.path !== DASHBOARD_PATH && !ctx.path.startsWith(`${DASHBOARD_PATH}/`)) return next();
    ctx.set(SECURITY_HEADERS);
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('Allow', 'GET, HEAD');
      ctx.body = { error_msg: `not supported \`${ctx.method}\` method` };
      return;
    }
    if (ctx.path === DASHBOARD_PATH) {
      ctx.redirect(`${DASHBOARD_PATH}/`);
      return;
    }
    const name = ctx.path === `${DASHBOARD_PATH}/` ? 'index.html' : ctx.path.slice(DASHBOARD_PATH.length + 1);
    if (!FILE_NAME.test(name) || name.includes('..')) {
      ctx.status = 404;
      ctx.body = { error_msg: 'not found' };
      return;
    }
    let content: Buffer;
    try {
      content = await readFile(join(dir, name));
    } catch {
      if (name === 'index.html') {
        ctx.status = 503;
        ctx.type = 'text/plain';
        ctx.body = `The dashboard is not built (no ${join(dir, 'index.html')}): run \`npm run build\`.\n`;
        return;
      }
      ctx.status = 404;
      ctx.body = { error_msg: 'not found' };
      return;
    }
    ctx.type = TYPES[name.slice(name.lastIndexOf('.') + 1)];
    ctx.body = content;
  };
}
