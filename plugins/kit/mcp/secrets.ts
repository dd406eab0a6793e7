/**
 * Secrets of MCP servers stay out of the catalog: a string value of an `env` or `headers` entry
 * may be `$env://NAME` (or `$env://NAME/key`), read from the gateway's environment when the child
 * starts or the request is made (APISIX's secret references: core/secret-refs.ts). The gateway's own settings (`TOLLGATE_*`: the
 * admin key, the Redis URL with its password) cannot be referred to: an Admin API user must not
 * be able to send them to a server of their choosing.
 *
 * What a GET shows: literal values of keys that look like secrets (`*KEY*`, `*TOKEN*`, `*SECRET*`,
 * `*PASSWORD*`, `Authorization`) are masked for every role; references are shown as written.
 */
import { isSecretRef, resolveSecretRef, secretRefProblem, secretRefVariable } from '../../../core/secret-refs.js';
import { MCP_ERRORS } from './errors.js';
import { mcpHttpError } from './jsonrpc.js';

export const MASK = '******';
const SECRET_KEY = /KEY|TOKEN|SECRET|PASSWORD|^AUTHORIZATION$/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

export function isReference(value: string): boolean {
  return isSecretRef(value);
}

/** Why the values of `map` (`field` names it in messages) hold a reference that can never be resolved, or undefined. */
export function referenceProblem(field: string, map: Readonly<Record<string, string>> | undefined): string | undefined {
  for (const [key, value] of Object.entries(map ?? {})) {
    if (!isSecretRef(value)) continue;
    const problem = secretRefProblem(value);
    if (problem) return `${field}.${key}: ${problem}`;
    const name = secretRefVariable(value)!;
    if (name.startsWith('TOLLGATE_')) return `${field}.${key}: $env://${name} names one of the gateway's own settings, which servers cannot be given`;
  }
  return undefined;
}

/**
 * `map` with every reference replaced by its value from `environment`. Throws a 502 naming the
 * entry and the variable (never a value) when one does not resolve.
 */
export function resolveReferences(field: string, map: Readonly<Record<string, string>>, environment: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(map)) {
    if (!isSecretRef(value)) {
      out[key] = value;
      continue;
    }
    const resolved = resolveSecretRef(value, environment);
    if ('error' in resolved) {
      throw mcpHttpError(MCP_ERRORS.GW_MCP_SECRET_MISSING, `the MCP server's ${field}.${key} refers to ${value}, which does not resolve: ${resolved.error}`, {
        data: { reason: 'secret_missing', field: `${field}.${key}`, variable: resolved.variable ?? null },
      });
    }
    out[key] = resolved.value;
  }
  return out;
}

/** `map` as a GET shows it: secret-looking literals masked (every literal for the viewer role). */
export function maskMap(map: Readonly<Record<string, string>>, everything: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(map)) out[key] = !isReference(value) && (everything || isSecretKey(key)) ? MASK : value;
  return out;
}

/**
 * Takes masked values of `map` back from `stored` (a GET, an edit, a PUT); returns why it cannot
 * when the stored record has no value behind a mask.
 */
export function restoreMap(field: string, map: Record<string, unknown>, stored: unknown): string | undefined {
  const old = typeof stored === 'object' && stored !== null ? (stored as Record<string, unknown>) : {};
  for (const [key, value] of Object.entries(map)) {
    if (value !== MASK) continue;
    const previous = Object.hasOwn(old, key) ? old[key] : undefined;
    if (typeof previous !== 'string' || previous === MASK) return `${field}.${key} is "${MASK}", the mask a GET shows for a secret, and no value is stored for it; send the value`;
    map[key] = previous;
  }
  return undefined;
}
