/**
 * Pattern matching with the semantics of APISIX's test helper (`t/lib/test_admin.lua`, `com_tab`):
 * every key of an object pattern must match the same key of the actual value, recursively; an array
 * pattern matches index by index (a longer actual array passes); `null` means the key is absent.
 * A few markers cover what the Lua tests check in code: `'$any'` (present), `'$string'`,
 * `'$number'`, `'$array'`, `'$object'`, `{ $re: 'regex' }`, `{ $exact: value }` (deep equality, no
 * extra keys: APISIX's "no unwanted data" tests; `$ignore: [keys]` leaves out keys the Lua test
 * removed first, such as timestamps), `{ $len: n }` (an array or object of n entries).
 */

export function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** Undefined when `actual` matches `pattern`, else where and how it differs. */
export function mismatch(pattern: unknown, actual: unknown, path = ''): string | undefined {
  const here = path || '(body)';
  if (pattern === null) return actual === undefined || actual === null ? undefined : `${here}: expected absent, got ${describe(actual)}`;
  if (typeof pattern === 'string' && pattern.startsWith('$')) return markerMismatch(pattern, actual, here);
  if (Array.isArray(pattern)) {
    if (!Array.isArray(actual)) return `${here}: expected an array, got ${describe(actual)}`;
    for (let i = 0; i < pattern.length; i++) {
      const m = mismatch(pattern[i], actual[i], `${path}[${i}]`);
      if (m) return m;
    }
    return undefined;
  }
  if (typeof pattern === 'object') {
    const p = pattern as Record<string, unknown>;
    if ('$re' in p) return typeof actual === 'string' && new RegExp(String(p.$re)).test(actual) ? undefined : `${here}: expected /${String(p.$re)}/, got ${describe(actual)}`;
    if ('$exact' in p) {
      const compared = Array.isArray(p.$ignore) && actual && typeof actual === 'object' ? withoutKeys(actual as Record<string, unknown>, p.$ignore as string[]) : actual;
      return deepEqual(p.$exact, compared) ? undefined : `${here}: expected exactly ${describe(p.$exact)}, got ${describe(compared)}`;
    }
    if ('$len' in p) {
      const n = Array.isArray(actual) ? actual.length : actual && typeof actual === 'object' ? Object.keys(actual).length : -1;
      return n === p.$len ? undefined : `${here}: expected ${String(p.$len)} entries, got ${describe(actual)}`;
    }
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return `${here}: expected an object, got ${describe(actual)}`;
    for (const [k, v] of Object.entries(p)) {
      const m = mismatch(v, (actual as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
      if (m) return m;
    }
    return undefined;
  }
  return pattern === actual ? undefined : `${here}: expected ${describe(pattern)}, got ${describe(actual)}`;
}

function markerMismatch(marker: string, actual: unknown, here: string): string | undefined {
  const ok =
    marker === '$any'
      ? actual !== undefined && actual !== null
      : marker === '$string'
        ? typeof actual === 'string'
        : marker === '$number'
          ? typeof actual === 'number'
          : marker === '$array'
            ? Array.isArray(actual)
            : marker === '$object'
              ? !!actual && typeof actual === 'object' && !Array.isArray(actual)
              : actual === marker;
  return ok ? undefined : `${here}: expected ${marker}, got ${describe(actual)}`;
}

function withoutKeys(value: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([k]) => !keys.includes(k)));
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // A marker nested inside `$exact` (an inner `$exact` with its `$ignore`) is still a pattern.
  if (a && typeof a === 'object' && !Array.isArray(a) && ('$exact' in a || '$re' in a || '$len' in a)) return mismatch(a, b) === undefined;
  if (typeof a === 'string' && a.startsWith('$')) return mismatch(a, b) === undefined;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}
