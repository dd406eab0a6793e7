/** Every parity case file; the suite runs them in this order. */
import type { CaseFile } from '../suite.js';
import adminAuth from './admin-auth.js';
import adminConsumers from './admin-consumers.js';
import adminCredentials from './admin-credentials.js';
import adminFilter from './admin-filter.js';
import adminPluginConfigs from './admin-plugin-configs.js';
import adminPlugins from './admin-plugins.js';
import adminRoutes from './admin-routes.js';
import adminRoutes2 from './admin-routes2.js';
import adminRoutes4 from './admin-routes4.js';
import adminServices from './admin-services.js';
import adminUpstreams from './admin-upstreams.js';
import pluginConsumerRestriction from './plugin-consumer-restriction.js';
import pluginCors from './plugin-cors.js';
import pluginIpRestriction from './plugin-ip-restriction.js';
import pluginJwtAuth from './plugin-jwt-auth.js';
import pluginKeyAuth from './plugin-key-auth.js';
import pluginLimitConnBreaker from './plugin-limit-conn-breaker.js';
import pluginLimitCount from './plugin-limit-count.js';
import pluginLimitReq from './plugin-limit-req.js';
import pluginLoggers from './plugin-loggers.js';
import pluginPrometheus from './plugin-prometheus.js';
import pluginProxyRewrite from './plugin-proxy-rewrite.js';
import pluginRequestId from './plugin-request-id.js';
import pluginResponseRewrite from './plugin-response-rewrite.js';
import pluginTrafficSplit from './plugin-traffic-split.js';
import nodeConsumers from './node-consumers.js';
import nodePlugins from './node-plugins.js';
import nodeRouting from './node-routing.js';
import nodeUpstream from './node-upstream.js';
import nodeVars from './node-vars.js';
import router from './router.js';
import routerHostVars from './router-host-vars.js';

export const CASE_FILES: CaseFile[] = [
  adminRoutes,
  adminRoutes2,
  adminRoutes4,
  adminAuth,
  adminServices,
  adminUpstreams,
  adminConsumers,
  adminCredentials,
  adminPluginConfigs,
  adminPlugins,
  adminFilter,
  pluginKeyAuth,
  pluginJwtAuth,
  pluginLimitCount,
  pluginLimitReq,
  pluginLimitConnBreaker,
  pluginProxyRewrite,
  pluginRequestId,
  pluginLoggers,
  pluginPrometheus,
  pluginCors,
  pluginIpRestriction,
  pluginConsumerRestriction,
  pluginResponseRewrite,
  pluginTrafficSplit,
  nodeRouting,
  nodePlugins,
  nodeUpstream,
  nodeConsumers,
  nodeVars,
  router,
  routerHostVars,
];
