/** The catalog resources the dashboard lists and edits, and how each is addressed. */

export interface KindInfo {
  /** The Admin API's path segment. */
  kind: string;
  title: string;
  /** APISIX's singular name: `/schema/{schemaName}`, and the words of its messages. */
  schemaName: string;
  /** The field holding the id (`username` for consumers). */
  idField: string;
  /** The API generates ids on POST (routes, services, upstreams, MCP servers). */
  canPost: boolean;
  /** Its `plugins` are consumer configs (auth plugins take their consumer schema). */
  consumerPlugins?: boolean;
  /** Which list filters it takes besides `name`. */
  searchUri?: boolean;
  /** Where it lives in the dashboard. */
  path: string;
}

export const KINDS: Record<string, KindInfo> = {
  routes: { kind: 'routes', title: 'Routes', schemaName: 'route', idField: 'id', canPost: true, searchUri: true, path: 'routes' },
  upstreams: { kind: 'upstreams', title: 'Upstreams', schemaName: 'upstream', idField: 'id', canPost: true, path: 'upstreams' },
  services: { kind: 'services', title: 'Services', schemaName: 'service', idField: 'id', canPost: true, path: 'services' },
  consumers: { kind: 'consumers', title: 'Consumers', schemaName: 'consumer', idField: 'username', canPost: false, consumerPlugins: true, path: 'consumers' },
  consumer_groups: { kind: 'consumer_groups', title: 'Consumer groups', schemaName: 'consumer_group', idField: 'id', canPost: false, path: 'consumer_groups' },
  global_rules: { kind: 'global_rules', title: 'Global rules', schemaName: 'global_rule', idField: 'id', canPost: false, path: 'global_rules' },
  plugin_configs: { kind: 'plugin_configs', title: 'Plugin configs', schemaName: 'plugin_config', idField: 'id', canPost: false, path: 'plugin_configs' },
  mcp_servers: { kind: 'mcp_servers', title: 'MCP servers', schemaName: 'mcp_server', idField: 'id', canPost: true, path: 'mcp' },
};
