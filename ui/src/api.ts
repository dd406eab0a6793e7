/**
 * The Admin API, from the page: the key the operator typed lives in this tab's sessionStorage (gone
 * when the tab closes, never shared with other tabs or sent as a cookie) and goes out as
 * `X-API-KEY` on every request to this origin.
 */

const KEY_SLOT = 'tollgate.admin-key';
export const ADMIN = '/apisix/admin';

export type Role = 'admin' | 'viewer';

/** An Admin API refusal, with the `error_msg` the API gave (or its `message`, for 404 Key not found). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export function storedKey(): string | undefined {
  return sessionStorage.getItem(KEY_SLOT) ?? undefined;
}

export function storeKey(key: string | undefined): void {
  if (key === undefined) sessionStorage.removeItem(KEY_SLOT);
  else sessionStorage.setItem(KEY_SLOT, key);
}

let onKeyRejected: () => void = () => undefined;

/** Called when the API refuses the stored key itself (it was changed or removed): the page signs out. */
export function whenKeyRejected(listener: () => void): void {
  onKeyRejected = listener;
}

export async function request<T = any>(method: string, path: string, body?: unknown, key = storedKey()): Promise<T> {
  const headers: Record<string, string> = { 'X-API-KEY': key ?? '' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(ADMIN + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit' });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const message = json?.error_msg ?? json?.message ?? (text || res.statusText);
    if (res.status === 401 && (json?.description === 'wrong apikey' || json?.description === 'missing apikey')) onKeyRejected();
    throw new ApiError(res.status, json?.description && json.description !== message ? `${message}: ${json.description}` : message, json);
  }
  return json as T;
}

export const get = <T = any>(path: string) => request<T>('GET', path);

/** A single record as the API wraps it. */
export interface Envelope<V = Record<string, any>> {
  key: string;
  value: V;
  createdIndex?: number;
  modifiedIndex?: number;
}

export interface ListAnswer<V = Record<string, any>> {
  total: number;
  list: Envelope<V>[];
}

/** `{name: {version, priority, schema, consumer_schema?, metadata_schema?, type?}}` (GET /plugins?all=true). */
export interface PluginInfo {
  version: string;
  priority: number;
  schema: JsonSchema;
  consumer_schema?: JsonSchema;
  metadata_schema?: JsonSchema;
  type?: string;
}

export type JsonSchema = Record<string, any>;

let pluginCache: Promise<Record<string, PluginInfo>> | undefined;

/** Every loaded plugin with its schemas; asked once per page load (a reload of plugins needs a refresh). */
export function plugins(): Promise<Record<string, PluginInfo>> {
  pluginCache ??= get<Record<string, PluginInfo>>('/plugins?all=true').catch((err) => {
    pluginCache = undefined;
    throw err;
  });
  return pluginCache;
}

const schemaCache = new Map<string, Promise<JsonSchema>>();

/** A resource's JSON Schema by APISIX's singular name (`route`, `consumer`…). */
export function resourceSchema(name: string): Promise<JsonSchema> {
  let cached = schemaCache.get(name);
  if (!cached) {
    cached = get<JsonSchema>(`/schema/${name}`);
    cached.catch(() => schemaCache.delete(name));
    schemaCache.set(name, cached);
  }
  return cached;
}

/** A value as a regular expression that matches it literally (the list filters take regular expressions). */
export function literalPattern(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function idOf(envelope: Envelope): string {
  return envelope.key.slice(envelope.key.lastIndexOf('/') + 1);
}
