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
];
