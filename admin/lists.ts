/**
 * `GET /apisix/admin/{resource}`: which records a list answers and in what order, as APISIX's v3
 * adapter decides (apisix/admin/v3_adapter.lua; t/admin/filter.t):
 * - `name` and `uri` are regular expressions found anywhere in the record's `name`, or its `uri`
 *   or one of its `uris` (RE2 here: linear time, whatever the pattern);
 * - `label` names a label the record has (`label=team`); Tollgate also takes `team:blue`, that
 *   label with that value. An empty `label=` matches nothing, as in APISIX;
 * - `filter` is an urlencoded `key=value&…` list; on routes, `service_id` and `upstream_id` are
 *   compared with the record's (as strings); other keys, and every key on other resources, are
 *   ignored as APISIX ignores them;
 * - paging happens only when both `page` and `page_size` are numbers: `page_size` must be
 *   10–500 (else 400 in plain text), a `page` below 1 is page 1, and the pages follow creation
 *   order. Without paging, records come in id order (etcd's key order). `total` counts every
 *   match, before paging.
 */
import type { CatalogRecord, ResourceKind } from '../core/catalog/types.js';
import { ownValue } from '../core/own.js';
import { LinearRegex, RegexError } from '../core/regex.js';
import { AdminError, fail } from './errors.js';

export interface ListQuery {
  name?: string;
  label?: string;
  uri?: string;
  filter?: string;
  page?: string;
  page_size?: string;
}

export type ListEntry = readonly [id: string, record: CatalogRecord];

/** The fields `filter=` compares, per resource (APISIX's `list_filter_fields`). */
const FILTER_FIELDS: Partial<Record<ResourceKind, readonly string[]>> = { routes: ['service_id', 'upstream_id'] };

/** The entries a list shows and how many matched before paging. `maxRegexProgram` bounds `name` and `uri` patterns. */
export function selectEntries(kind: ResourceKind, entries: Iterable<ListEntry>, query: ListQuery, maxRegexProgram: number): { total: number; page: ListEntry[] } {
  const matchers: Array<(record: CatalogRecord) => boolean> = [];
  if (query.name !== undefined) {
    const name = pattern('name', query.name, maxRegexProgram);
    matchers.push((r) => {
      const value = ownValue(r.value, 'name');
      return typeof value === 'string' && name.test(value);
    });
  }
  if (query.label !== undefined) matchers.push(labelMatcher(query.label));
  if (query.uri !== undefined) {
    const uri = pattern('uri', query.uri, maxRegexProgram);
    matchers.push((r) => {
      const uris = ownValue(r.value, 'uris');
      return [ownValue(r.value, 'uri'), ...(Array.isArray(uris) ? uris : [])].some((u) => typeof u === 'string' && uri.test(u));
    });
  }
  if (query.filter !== undefined) matchers.push(fieldMatcher(kind, query.filter));

  let items = [...entries].filter(([, record]) => matchers.every((matches) => matches(record)));
  items.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const total = items.length;
  const page = Number(query.page);
  const size = Number(query.page_size);
  if (isNumber(query.page) && isNumber(query.page_size)) {
    if (size < 10 || size > 500) throw new AdminError(400, 'page_size must be between 10 and 500');
    const from = (Math.max(1, Math.floor(page)) - 1) * Math.floor(size);
    items = items.sort(([, a], [, b]) => a.createdIndex - b.createdIndex).slice(from, from + Math.floor(size));
  }
  return { total, page: items };
}

function isNumber(text: string | undefined): boolean {
  return text !== undefined && text.trim() !== '' && Number.isFinite(Number(text));
}

function pattern(field: string, source: string, maxRegexProgram: number): LinearRegex {
  try {
    return LinearRegex.compile(source, maxRegexProgram);
  } catch (err) {
    if (err instanceof RegexError) throw fail(400, `invalid ${field} filter: ${JSON.stringify(source)} ${err.message}`);
    throw err;
  }
}

/** `label=key` (APISIX), or `label=key:value`; only the record's own labels count. */
function labelMatcher(label: string): (record: CatalogRecord) => boolean {
  const colon = label.indexOf(':');
  return (record) => {
    const labels = ownValue(record.value, 'labels');
    if (typeof labels !== 'object' || labels === null) return false;
    if (label !== '' && Object.hasOwn(labels, label)) return true;
    if (colon <= 0) return false;
    return ownValue(labels, label.slice(0, colon)) === label.slice(colon + 1);
  };
}

function fieldMatcher(kind: ResourceKind, filter: string): (record: CatalogRecord) => boolean {
  const fields = FILTER_FIELDS[kind] ?? [];
  // As ngx.decode_args: the last of a repeated key wins.
  const wanted = [...new Map([...new URLSearchParams(filter)].filter(([key]) => fields.includes(key))).entries()];
  return (record) =>
    wanted.every(([key, value]) => {
      const actual = ownValue(record.value, key);
      return (typeof actual === 'string' || typeof actual === 'number') && String(actual) === value;
    });
}
