/** The built-in plugins. Each lives in its own folder and imports only from core/. */
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from '../core/plugin.js';
import apiBreaker from './api-breaker/index.js';
import clientControl from './client-control/index.js';
import consumerRestriction from './consumer-restriction/index.js';
import cors from './cors/index.js';
import fileLogger from './file-logger/index.js';
import httpLogger from './http-logger/index.js';
import ipRestriction from './ip-restriction/index.js';
import jwtAuth from './jwt-auth/index.js';
import keyAuth from './key-auth/index.js';
import limitConn from './limit-conn/index.js';
import limitCount from './limit-count/index.js';
import limitReq from './limit-req/index.js';
import mcpAcl from './mcp-acl/index.js';
import mcpBridge from './mcp-bridge/index.js';
import mcpFederation from './mcp-federation/index.js';
import openidConnect from './openid-connect/index.js';
import prometheus from './prometheus/index.js';
import proxyRewrite from './proxy-rewrite/index.js';
import requestId from './request-id/index.js';
import responseRewrite from './response-rewrite/index.js';
import trafficSplit from './traffic-split/index.js';

export const BUILTIN_PLUGINS: readonly Plugin[] = [requestId, clientControl, cors, ipRestriction, proxyRewrite, openidConnect, jwtAuth, keyAuth, consumerRestriction, mcpAcl, apiBreaker, limitConn, limitCount, limitReq, trafficSplit, responseRewrite, mcpBridge, mcpFederation, prometheus, httpLogger, fileLogger];

const here = fileURLToPath(import.meta.url);

/** The file `tollgate/kit` names, for custom plugins the gateway loads at run time (core/plugin-sdk.ts). */
export const KIT_ENTRY = join(dirname(here), 'kit', `index${extname(here)}`);
