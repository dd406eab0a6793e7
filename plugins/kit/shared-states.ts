/**
 * State that outlives a route version: limiter counters, connections in flight, a breaker. A
 * namespace says whose state it is, as APISIX keys it; the core's `RefCountedMap` holds it while
 * some instance uses it.
 */
import { createHash } from 'node:crypto';
import type { RouteInfo } from '../../core/context.js';
import { canonicalJson } from './canonical-json.js';

/** A short, stable digest of a plugin config (without `_meta`): changing the config resets counters. */
export function confVersion(conf: object): string {
  return createHash('sha1').update(canonicalConf(conf)).digest('hex').slice(0, 12);
}

/**
 * A config as text that two equal configs share whatever their keys' order (`_meta` left out:
 * disabling or reordering a plugin is not a new limit).
 */
export function canonicalConf(conf: object): string {
  const { _meta: _ignored, ...rest } = conf as Record<string, unknown>;
  return canonicalJson(rest);
}

/**
 * Whose counters a plugin instance uses, as APISIX keys them: the resource holding the config
 * (a route, or a consumer for a consumer's own plugins, which then counts across every route),
 * or a `group` shared by several routes; plus the config's version.
 */
export function limitNamespace(conf: object, route: RouteInfo, group?: string): string {
  const owner = group !== undefined ? `group:${group}` : route.consumer !== undefined ? `consumer:${route.consumer}` : `route:${route.id}`;
  return `${owner}:${confVersion(conf)}`;
}
