/**
 * How a session carries out what the message filters decided about a client request
 * (core/context.ts, McpRequestInfo.refuse and filterList; docs/plugin-development.md).
 *
 * A refused request is answered exactly as the server answers a name it does not have: it goes
 * to the backend under a stand-in name no server has (its arguments dropped), and the answer comes
 * back with the stand-in replaced by the name the client used. So whatever the server says about
 * unknown names (a JSON-RPC error, an `isError` result, its own wording), the client reads the same
 * for a denied tool as for one that does not exist, after the same round trip; the server never
 * learns the denied name nor gets its arguments. A list result keeps only the items every filter
 * keeps.
 */
import { randomBytes } from 'node:crypto';
import type { McpRequestInfo } from '../../../core/context.js';
import { LIST_ITEMS, NAMED_BY, filterListResult } from '../../../core/mcp.js';

/** What the filters decided about one request, as the front hands it to the session. */
export type Verdict = Pick<McpRequestInfo, 'refusedBy' | 'filtersList' | 'keeps'>;

/** Unguessable, and JSON-safe as it is: it appears verbatim inside any JSON string of the answer. */
function standInName(): string {
  return `tollgate-unknown-${randomBytes(9).toString('hex')}`;
}

export interface StandIn {
  /** The message the backend gets instead of the refused one. */
  readonly message: Record<string, unknown>;
  /** The answer as the client must read it: the stand-in name replaced by the one it asked for. */
  restore(line: string): string;
}

/**
 * The refused request as the backend gets it. A URI keeps its scheme (a server may answer an
 * unknown scheme differently from an unknown resource) but nothing else of it, so that it matches
 * no resource template and the server reads nothing. A request that names nothing is sent as an
 * unknown method, so the server answers "method not found" in its own words.
 */
export function standIn(message: Record<string, unknown>, method: string): StandIn {
  if (method === 'completion/complete') return completionStandIn(message) ?? unknownMethod(message, method);
  const field = NAMED_BY[method];
  const params = message.params as Record<string, unknown> | undefined;
  const original = field ? params?.[field] : undefined;
  if (!field || typeof original !== 'string') return unknownMethod(message, method);
  const scheme = field === 'uri' ? /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(original)?.[0] : undefined;
  const stand = `${scheme ?? ''}${standInName()}`;
  const { arguments: _dropped, ...kept } = params!;
  return { message: { ...message, params: { ...kept, [field]: stand } }, restore: replacer(stand, original) };
}

function unknownMethod(message: Record<string, unknown>, method: string): StandIn {
  const stand = standInName();
  return { message: { ...message, method: stand }, restore: replacer(stand, method) };
}

/** completion/complete for a refused prompt or template: asked for a stand-in one (with an empty argument). */
function completionStandIn(message: Record<string, unknown>): StandIn | undefined {
  const params = message.params as { ref?: Record<string, unknown>; argument?: unknown } | undefined;
  const ref = params?.ref;
  const field = ref?.type === 'ref/prompt' ? 'name' : ref?.type === 'ref/resource' ? 'uri' : undefined;
  const original = field ? ref![field] : undefined;
  if (!field || typeof original !== 'string') return undefined;
  const scheme = field === 'uri' ? /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(original)?.[0] : undefined;
  const stand = `${scheme ?? ''}${standInName()}`;
  const argument = params?.argument as { name?: unknown } | undefined;
  return {
    message: { ...message, params: { ...params, ref: { ...ref, [field]: stand }, ...(argument ? { argument: { name: argument.name, value: '' } } : {}) } },
    restore: replacer(stand, original),
  };
}

function replacer(stand: string, original: string): (line: string) => string {
  // Inside the answer the name sits in JSON strings: put it back escaped as JSON.
  const escaped = JSON.stringify(original).slice(1, -1);
  return (line) => (line.includes(stand) ? line.split(stand).join(escaped) : line);
}

/** Whether `method` answers with a list the filters apply to. */
export function isFilteredList(method: string): boolean {
  return LIST_ITEMS[method] !== undefined;
}

/**
 * The answer to a list request with only the items the filters keep: `line` itself when it is
 * not a result or loses nothing.
 */
export function filterListAnswer(line: string, message: Record<string, unknown>, method: string, verdict: Verdict): string {
  const result = message.result;
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return line;
  const kept = filterListResult(method, result as Record<string, unknown>, verdict);
  return kept === result ? line : JSON.stringify({ ...message, result: kept });
}
