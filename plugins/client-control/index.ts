/**
 * client-control — per-route limits on what a client may send (APISIX's plugin of the same name).
 * `max_body_size` raises or lowers the gateway-wide body limit for this route; the core enforces
 * it before any phase runs (413), so no phase handler is needed.
 */
import { definePlugin } from '../../core/plugin.js';

interface ClientControlConf {
  max_body_size?: number;
}

export default definePlugin<ClientControlConf>({
  name: 'client-control',
  version: '1.0.0',
  priority: 22000,
  description: 'Sets the request body limit of a route.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      max_body_size: { type: 'integer', minimum: 0, description: 'Largest request body in bytes for this route (413 above it); 0 means no limit, as in APISIX and nginx.' },
    },
  },
  requestOptions: (conf) =>
    conf.max_body_size === undefined ? {} : { maxBodyBytes: conf.max_body_size === 0 ? Number.POSITIVE_INFINITY : conf.max_body_size },
});
