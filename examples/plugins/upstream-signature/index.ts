/**
 * upstream-signature — signs every request the gateway sends upstream, so the upstream can check
 * that it came through the gateway and was not altered on the way:
 *
 *   X-Tollgate-Key-Id:    key_id
 *   X-Tollgate-Timestamp: unix seconds
 *   X-Tollgate-Signature: hex HMAC-SHA256(secret, "<timestamp>\n<METHOD>\n<path and query>")
 *
 * The signature covers the path as sent upstream, after proxy-rewrite (which runs before this
 * plugin: priority 50 < 1008). Signature headers a client sends are replaced, never forwarded.
 * Phase: rewrite. Never fails a request.
 */
import { createHmac } from 'node:crypto';
import { definePlugin } from 'tollgate';

interface SignatureConf {
  secret: string;
  key_id: string;
}

export default definePlugin<SignatureConf>({
  name: 'upstream-signature',
  version: '1.0.0',
  priority: 50,
  description: 'Signs upstream requests with an HMAC the upstream can verify.',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['secret'],
    properties: {
      secret: { type: 'string', minLength: 16, writeOnly: true, description: 'The HMAC key shared with the upstream.' },
      key_id: { type: 'string', minLength: 1, default: 'default', description: 'Names the key, so upstreams can rotate keys.' },
    },
  },

  rewrite(ctx, conf) {
    const plan = ctx.gateway.upstream;
    const method = plan.method ?? ctx.method;
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = createHmac('sha256', conf.secret).update(`${timestamp}\n${method}\n${plan.uri}`).digest('hex');
    plan.headers.set('x-tollgate-key-id', conf.key_id);
    plan.headers.set('x-tollgate-timestamp', timestamp);
    plan.headers.set('x-tollgate-signature', signature);
  },
});
