/**
 * How to connect an MCP client to a route: its Streamable HTTP and SSE URLs and configurations to
 * paste into Claude Desktop, Claude Code, Cursor, VS Code and the MCP Inspector, with the route's
 * authentication filled in where it applies (the header key-auth reads, a bearer token for
 * jwt-auth; nothing for OAuth, which clients run themselves). Keys are never filled in: the page
 * does not know a consumer's key and would not show it.
 */
import { useState } from 'preact/hooks';
import { CopyBlock, Tabs } from '../components.js';
import { useSession } from '../session.js';

const MCP_PLUGINS = ['mcp-bridge', 'mcp-federation'];

export function isMcpRoute(route: Record<string, any>): boolean {
  return MCP_PLUGINS.some((name) => route.plugins?.[name] && typeof route.plugins[name] === 'object');
}

export function baseUriOf(route: Record<string, any>): string {
  for (const name of MCP_PLUGINS) {
    const conf = route.plugins?.[name];
    if (conf && typeof conf === 'object') return String(conf.base_uri ?? '');
  }
  return '';
}

interface Auth {
  /** What the client must send, as header name → value (a placeholder for the secret). */
  headers: Record<string, string>;
  /** Said under the snippets. */
  note?: string;
}

export function authOf(route: Record<string, any>): Auth {
  const plugins = route.plugins ?? {};
  if (plugins['openid-connect']) {
    return { headers: {}, note: 'This route uses OAuth (openid-connect): clients are sent to its authorization server and sign in themselves; no header to configure.' };
  }
  if (plugins['key-auth']) {
    const header = plugins['key-auth'].header ?? 'apikey';
    return { headers: { [header]: '<your key>' }, note: `This route uses key-auth: put a consumer's key in the ${header} header (replace <your key>).` };
  }
  if (plugins['jwt-auth']) {
    const header = plugins['jwt-auth'].header ?? 'authorization';
    return { headers: { [header]: header.toLowerCase() === 'authorization' ? 'Bearer <your token>' : '<your token>' }, note: 'This route uses jwt-auth: send a token signed with a consumer\'s key.' };
  }
  return { headers: {} };
}

/** The origin clients use: the route's host when it names one, else the data plane as the gateway reports it. */
function originFor(route: Record<string, any>, dataPlane: string | undefined): string {
  const fallback = new URL(dataPlane ?? `${location.protocol}//${location.hostname}:9080`);
  // A wildcard bind address is not somewhere to connect to: use the name this page was reached by.
  if (['0.0.0.0', '[::]', '::'].includes(fallback.hostname)) fallback.hostname = location.hostname;
  const host: string | undefined = route.host ?? (Array.isArray(route.hosts) ? route.hosts[0] : undefined);
  if (host && !host.startsWith('*')) fallback.hostname = host;
  return fallback.origin;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'tollgate';
}

type Client = 'claude-desktop' | 'claude-code' | 'cursor' | 'vscode' | 'inspector';

export function ConnectPanel({ route, routeId }: { route: Record<string, any>; routeId: string }) {
  const { dataPlane } = useSession();
  const [client, setClient] = useState<Client>('claude-code');
  const origin = originFor(route, dataPlane);
  const base = baseUriOf(route);
  const http = `${origin}${base}/mcp`;
  const sse = `${origin}${base}/sse`;
  const name = slug(route.name ?? routeId);
  const auth = authOf(route);
  const headerEntries = Object.entries(auth.headers);
  const json = (value: unknown) => JSON.stringify(value, null, 2);
  const withHeaders = (entry: Record<string, unknown>, headers = auth.headers) => (headerEntries.length ? { ...entry, headers } : entry);

  const snippets: Record<Client, Array<[string, string]>> = {
    'claude-code': [
      ['Command line', `claude mcp add --transport http ${name} ${http}${headerEntries.map(([h, v]) => ` --header "${h}: ${v}"`).join('')}`],
      ['.mcp.json (project root)', json({ mcpServers: { [name]: withHeaders({ type: 'http', url: http }) } })],
    ],
    'claude-desktop': [
      [
        'claude_desktop_config.json (through the mcp-remote adapter)',
        json({
          mcpServers: {
            [name]: {
              command: 'npx',
              args: ['-y', 'mcp-remote', http, ...headerEntries.flatMap(([h, v]) => ['--header', `${h}:${v}`])],
            },
          },
        }),
      ],
    ],
    cursor: [['~/.cursor/mcp.json or .cursor/mcp.json', json({ mcpServers: { [name]: withHeaders({ url: http }) } })]],
    vscode: [
      [
        '.vscode/mcp.json',
        json({
          ...(headerEntries.length ? { inputs: [{ type: 'promptString', id: `${name}-key`, description: `Credential for ${name}`, password: true }] } : {}),
          servers: {
            [name]: withHeaders(
              { type: 'http', url: http },
              Object.fromEntries(headerEntries.map(([h, v]) => [h, v.replace(/<your (key|token)>/, `\${input:${name}-key}`)])),
            ),
          },
        }),
      ],
    ],
    inspector: [
      ['List the tools', `npx @modelcontextprotocol/inspector --cli ${http} --transport http --method tools/list${headerEntries.map(([h, v]) => ` --header "${h}: ${v}"`).join('')}`],
      ['Open the Inspector UI', `npx @modelcontextprotocol/inspector\n# Transport: Streamable HTTP · URL: ${http}${headerEntries.map(([h, v]) => `\n# Header ${h}: ${v}`).join('')}`],
    ],
  };

  return (
    <section class="connect" aria-labelledby={`connect-${routeId}`}>
      <h2 id={`connect-${routeId}`}>Connect a client to route {routeId}</h2>
      <dl class="facts">
        <dt>Streamable HTTP</dt>
        <dd>
          <code data-testid="streamable-url">{http}</code>
        </dd>
        <dt>SSE (legacy)</dt>
        <dd>
          <code>{sse}</code>
        </dd>
      </dl>
      {auth.note && <p class="note">{auth.note}</p>}
      <Tabs
        label="Client"
        tabs={[
          ['claude-code', 'Claude Code'],
          ['claude-desktop', 'Claude Desktop'],
          ['cursor', 'Cursor'],
          ['vscode', 'VS Code'],
          ['inspector', 'MCP Inspector'],
        ]}
        current={client}
        onChange={setClient}
      />
      <div role="tabpanel">
        {snippets[client].map(([label, text]) => (
          <CopyBlock key={label} label={label} text={text} />
        ))}
      </div>
    </section>
  );
}
