/**
 * mcp-bridge's codes. Each answers with a JSON-RPC error body whose `data.code` is the code (see
 * `mcpHttpError`), so MCP clients read it where they read every other error.
 */
import { defineErrors } from '../../../core/errors.js';

export const MCP_ERRORS = defineErrors({
  GW_MCP_INVALID_MESSAGE: { status: 400, message: 'the body is not a valid JSON-RPC message' },
  GW_MCP_BATCH_NOT_ALLOWED: { status: 400, message: 'Invalid Request: a batch is not allowed here' },
  GW_MCP_DUPLICATE_ID: { status: 400, message: 'the request id is already in flight in this session' },
  GW_MCP_SESSION_REQUIRED: { status: 400, message: 'a session id is required' },
  GW_MCP_BAD_QUERY: { status: 400, message: 'a query parameter of an MCP server endpoint is invalid' },
  GW_MCP_ALREADY_INITIALIZED: { status: 400, message: 'this session is already initialized' },
  GW_MCP_UNSUPPORTED_VERSION: { status: 400, message: 'unsupported MCP protocol version' },
  GW_MCP_HEADER_MISMATCH: { status: 400, message: 'an Mcp-* header is missing or does not match the body' },
  GW_MCP_FORBIDDEN_ORIGIN: { status: 403, message: 'Origin not allowed' },
  GW_MCP_NOT_FOUND: { status: 404, message: 'no MCP endpoint here' },
  GW_MCP_SESSION_NOT_FOUND: { status: 404, message: 'session not found' },
  GW_MCP_SERVER_NOT_FOUND: { status: 404, message: 'mcp server not found' },
  GW_MCP_METHOD_NOT_FOUND: { status: 404, message: 'the MCP method is not served here' },
  GW_MCP_METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed on this endpoint' },
  GW_MCP_NOT_ACCEPTABLE: { status: 406, message: 'Accept must allow both application/json and text/event-stream' },
  GW_MCP_STREAM_CONFLICT: { status: 409, message: 'this session already has an open GET stream' },
  GW_MCP_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Content-Type must be application/json' },
  GW_MCP_CHILD_UNAVAILABLE: { status: 502, message: 'the MCP server could not be started or ended' },
  GW_MCP_PROBE_FAILED: { status: 502, message: 'the MCP server failed the probe' },
  GW_MCP_PROBE_ERROR: { status: 502, message: 'the MCP server answered the probe with an error' },
  GW_MCP_SERVER_FAILING: { status: 502, message: 'the remote MCP server is failing its health checks' },
  GW_MCP_SECRET_MISSING: { status: 502, message: "an $env:// reference of the MCP server names a variable the gateway's environment does not set" },
  GW_MCP_ROUTE_CHANGED: { status: 503, message: 'route is being reconfigured' },
  GW_MCP_SERVER_INVALID: { status: 503, message: 'the mcp server record cannot be used' },
  GW_MCP_TOO_MANY_SESSIONS: { status: 503, message: 'too many MCP sessions' },
  GW_MCP_COMMAND_NOT_ALLOWED: { status: 503, message: "the MCP server's command line is not allowed by mcp.allowed_commands" },
  GW_MCP_SERVER_BUSY: { status: 503, message: 'the MCP server is not reading its input' },
  GW_MCP_START_QUEUE_FULL: { status: 503, message: 'too many MCP servers are waiting to start' },
  GW_MCP_PROBE_TIMEOUT: { status: 504, message: 'the MCP server did not answer the probe in time' },
  GW_MCP_INIT_TIMEOUT: { status: 504, message: 'the MCP server did not answer initialize in time' },
});
