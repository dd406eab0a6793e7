/**
 * `GET /apisix/admin/{resource}`: which records a list answers and in what order, with the
 * filters and paging of APISIX's v3 adapter.
 */
import type { CatalogRecord, ResourceKind } from '../core/catalog/types.js';
import { ownValue } from '../core/own.js';

export interface ListQuery {
  name?: string;
  label?: string;
  uri?: string;
  page?: string;
  page_size?: string;
}

/** A refused query: status and the body APISIX answers with. */
export class ListQueryError extends Error {}

export type ListEntry = readonly [id: string, record: CatalogRecord];

/** The entries a list shows and how many matched before paging. */
export function selectEntries(kind: ResourceKind, entries: Iterable<ListEntry>, query: ListQuery): { total: number; page: ListEntry[] } {
  let items = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (query.name) items = items.filter(([, r]) => String(ownValue(r.value, 'name') ?? '').includes(query.name!));
  if (query.label) {
    // `key:value`, or `key` alone for any value; only the record's own labels count.
    const colon = query.label.indexOf(':');
    const key = colon < 0 ? query.label : query.label.slice(0, colon);
    const wanted = colon < 0 ? undefined : query.label.slice(colon + 1);
    items = items.filter(([, r]) => {
      const value = ownValue(r.value.labels, key);
      return typeof value === 'string' && (wanted === undefined || value === wanted);
    });
  }
  if (query.uri && kind === 'routes') {
    items = items.filter(([, r]) => {
      const uris = ownValue(r.value, 'uris');
      return [ownValue(r.value, 'uri'), ...(Array.isArray(uris) ? uris : [])].some((u) => typeof u === 'string' && u.includes(query.uri!));
    });
  }
  const total = items.length;
  if (query.page !== undefined || query.page_size !== undefined) {
    const page = Number(query.page ?? 1);
    const size = Number(query.page_size ?? 10);
    if (!Number.isInteger(page) || page < 1) throw new ListQueryError('page must be an integer >= 1');
    if (!Number.isInteger(size) || size < 10 || size > 500) throw new ListQueryError('page_size must be an integer between 10 and 500');
    items = items.slice((page - 1) * size, page * size);
  }
  return { total, page: items };
}
