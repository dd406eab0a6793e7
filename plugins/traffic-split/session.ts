/**
 * Keeping an MCP session on the upstream that created it. A Streamable HTTP server assigns the
 * session id in its answer to `initialize` (Mcp-Session-Id), after the split has picked it; a
 * later request hashed by that id would land on whichever upstream the hash names, most often
 * one that never heard of the session. So the id the client sees carries the pick: the gateway
 * prefixes it with a tag naming the upstream (`tg-<8 hex>-<id>`), and strips the prefix again on
 * the way in. No state is kept: every worker and every gateway instance routes the session the
 * same way, and a weight change does not move sessions that exist. The upstream only ever sees
 * its own id.
 */
import { hash32 } from '../../core/upstream/balancer.js';

const TAGGED = /^tg-([0-9a-f]{8})-([\x21-\x7e]+)$/;

/** The tag of a target, from a key that names it stably (`route`, `id:<upstream_id>`, `inline:<definition>`). */
export function tagOf(key: string): string {
  return hash32(key).toString(16).padStart(8, '0');
}

/** The session id the client is given. */
export function tagSession(tag: string, sessionId: string): string {
  return `tg-${tag}-${sessionId}`;
}

/** A session id the client sent: the upstream's own id, and the tag it carried if any. */
export function untagSession(sent: string): { id: string; tag?: string } {
  const match = TAGGED.exec(sent);
  return match ? { tag: match[1], id: match[2] } : { id: sent };
}
