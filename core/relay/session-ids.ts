/**
 * Session ids that name the process owning the session (an MCP session lives in one worker of
 * one instance: its child, its streams). An id is this process's token (12 characters) followed
 * by 144 random bits (24 characters), all base64url: unguessable, visible ASCII as the MCP
 * transports spec asks, and routable without a lookup of the session itself. Where the token's
 * process can be reached is the relay directory's business (directory.ts).
 */
import { randomBytes } from 'node:crypto';

const TOKEN_CHARS = 12;
const ID_CHARS = TOKEN_CHARS + 24;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** This process's token: new at every start, so a replaced worker never inherits sessions. */
export const PROCESS_TOKEN = randomBytes(9).toString('base64url');

/** A new session id owned by this process. */
export function newSessionId(): string {
  return PROCESS_TOKEN + randomBytes(18).toString('base64url');
}

/** The owner token in a session id, or undefined for an id this scheme did not mint. */
export function ownerTokenOf(id: string): string | undefined {
  if (id.length !== ID_CHARS || !BASE64URL.test(id)) return undefined;
  return id.slice(0, TOKEN_CHARS);
}
