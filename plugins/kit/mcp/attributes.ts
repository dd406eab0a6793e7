/**
 * mcp-bridge's gateway-wide attributes (`plugin_attr.mcp-bridge` in conf/config.yaml; the older
 * top-level `mcp:` section is read as the same): which command lines may start, and the caps and
 * waits every route's children share.
 */
import type { GatewayConfig } from '../../../core/config.js';
import { pluginAttributes, type PluginAttributes } from '../../../core/plugin-attr.js';

export interface BridgeAttributes {
  allowed_commands: string[];
  max_children: number;
  start_concurrency: number;
  start_queue: number;
  stop_stdin_wait: number;
  stop_term_wait: number;
  reaper_linger: number;
  max_request_duration: number;
  resume_buffer_bytes: number;
  stderr_lines_per_minute: number;
}

const seconds = { type: 'number', exclusiveMinimum: 0 };

export const ATTRIBUTES: PluginAttributes = {
  section: 'mcp',
  env: { TOLLGATE_MCP_ALLOWED_COMMANDS: 'allowed_commands' },
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      allowed_commands: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        default: ['node', 'npx', 'python3', 'uvx'],
        description: 'Command lines mcp-bridge may start: a command, optionally followed by the leading args it must be given.',
      },
      max_children: { type: 'integer', minimum: 1, default: 32, description: 'Gateway-wide cap on MCP sessions and child processes.' },
      start_concurrency: { type: 'integer', minimum: 1, default: 8, description: 'Children starting at once; the rest wait their turn.' },
      start_queue: { type: 'integer', minimum: 0, default: 128, description: 'Sessions waiting for a turn to start; one more gets 503.' },
      stop_stdin_wait: { ...seconds, default: 2, description: 'Seconds after closing a child’s stdin before SIGTERM.' },
      stop_term_wait: { ...seconds, default: 3, description: 'Seconds after SIGTERM before SIGKILL.' },
      reaper_linger: { type: 'number', minimum: 0, default: 1, description: 'Seconds the child reaper stays after the last child is gone, for the next session to reuse.' },
      max_request_duration: { ...seconds, default: 600, description: 'Hard cap on one MCP request, in seconds.' },
      resume_buffer_bytes: { type: 'integer', minimum: 0, default: 1048576, description: 'Per session: SSE events kept for Last-Event-ID resumption.' },
      stderr_lines_per_minute: { type: 'integer', minimum: 0, default: 60, description: 'Per child: stderr lines copied to the gateway log.' },
    },
  },
};

/** This gateway's bridge attributes, checked with their defaults (the core caches them per config). */
export function bridgeAttributes(config: Readonly<Pick<GatewayConfig, 'plugin_attr'>>): BridgeAttributes {
  return pluginAttributes<BridgeAttributes>(config, { name: 'mcp-bridge', attributes: ATTRIBUTES });
}
