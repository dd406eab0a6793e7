/**
 * Property access for keys that come from outside: a request, a catalog record, a config file.
 * `object[key]` walks the prototype chain. With `__proto__` it reaches Object.prototype itself, and
 * one assignment through it then changes every object in the process (issue 10: a PATCH sub-path
 * through `__proto__` gave every key-auth route an `anonymous_consumer`). `constructor`,
 * `toString` and the like read inherited functions. These helpers see own properties only.
 */

/** Names that address an object's prototype machinery rather than its data. */
export const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export function isPrototypeKey(key: string): boolean {
  return PROTOTYPE_KEYS.has(key);
}

/** `target[key]` when `target` is an object that holds `key` itself; undefined otherwise. */
export function ownValue(target: unknown, key: string): unknown {
  if (typeof target !== 'object' || target === null || !Object.hasOwn(target, key)) return undefined;
  return (target as Record<string, unknown>)[key];
}

/** Defines `key` as an own data property, `__proto__` included (where `=` would swap the prototype). */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * A request header named by config (key-auth `header`, a chash `key` …), from own properties only:
 * Node's header object inherits from Object.prototype, so `headers.constructor` is a function.
 * Repeated lines of one header come joined, as Node joins them.
 */
export function requestHeader(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const value = ownValue(headers, name.toLowerCase());
  if (Array.isArray(value)) return value.join(', ');
  return typeof value === 'string' ? value : undefined;
}
