/** The built-in plugins. Each lives in its own folder and imports only from core/. */
import type { Plugin } from '../core/plugin.js';
import clientControl from './client-control/index.js';
import proxyRewrite from './proxy-rewrite/index.js';
import requestId from './request-id/index.js';

export const BUILTIN_PLUGINS: readonly Plugin[] = [requestId, clientControl, proxyRewrite];
