/**
 * What the auth plugins (key-auth, jwt-auth) share, so that neither imports the other: attaching
 * the authenticated consumer, the identity header only the gateway may set, and APISIX's 401
 * shape. A client cannot assert an identity: the proxy drops every `X-Consumer-*` and
 * `X-Credential-Identifier` header a client sent, on every route (faults-checklist B-07).
 */
import type { ConsumerInfo, GatewayContext } from '../../core/context.js';
import type { ErrorCode, GatewayError } from '../../core/errors.js';

/** The header naming the authenticated consumer to the upstream (APISIX, Kong). */
export const CONSUMER_USERNAME_HEADER = 'x-consumer-username';
/** APISIX 3.11: which of the consumer's credentials authenticated the request, when one did. */
export const CREDENTIAL_HEADER = 'x-credential-identifier';
/** APISIX 3.11: the consumer's `labels.custom_id`, when it has one. */
export const CUSTOM_ID_HEADER = 'x-consumer-custom-id';

/** Sets the consumer on the context and tells the upstream who it is (and nothing a client sent). */
export function attachConsumer(ctx: GatewayContext, consumer: ConsumerInfo): void {
  ctx.gateway.consumer = consumer;
  const headers = ctx.gateway.upstream.headers;
  headers.set(CONSUMER_USERNAME_HEADER, consumer.username);
  // Unset, never a client's: the proxy drops those (and a second auth plugin may attach another consumer).
  if (consumer.credentialId !== undefined) headers.set(CREDENTIAL_HEADER, consumer.credentialId);
  else headers.delete(CREDENTIAL_HEADER);
  const customId = consumer.labels && Object.hasOwn(consumer.labels, 'custom_id') ? consumer.labels.custom_id : undefined;
  if (typeof customId === 'string') headers.set(CUSTOM_ID_HEADER, customId);
  else headers.delete(CUSTOM_ID_HEADER);
}

/**
 * A 401 in APISIX's shape (`{"message": "..."}`) with its challenge. The message must say what
 * was wrong with the request, never anything about the secret it was checked against.
 */
export function unauthorized(code: ErrorCode, message: string, challenge: string): GatewayError {
  return code.error({ status: 401, message, headers: { 'WWW-Authenticate': challenge }, body: { message } });
}

/** The path and query with one query parameter removed (hide_credentials), other bytes untouched. */
export function withoutQueryParam(uri: string, name: string): string {
  const mark = uri.indexOf('?');
  if (mark < 0) return uri;
  const kept = uri
    .slice(mark + 1)
    .split('&')
    .filter((pair) => {
      const eq = pair.indexOf('=');
      const raw = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = raw;
      try {
        decoded = decodeURIComponent(raw.replaceAll('+', ' '));
      } catch {
        // A malformed escape is compared as it is.
      }
      return decoded !== name;
    });
  return kept.length > 0 ? `${uri.slice(0, mark)}?${kept.join('&')}` : uri.slice(0, mark);
}
