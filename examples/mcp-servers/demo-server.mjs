#!/usr/bin/env node
/**
 * A small stdio MCP server for Tollgate's demo catalog (`npm start`): the gateway's mcp-bridge
 * serves it at http://127.0.0.1:9080/mcp/demo/mcp (Streamable HTTP) and /mcp/demo/sse (legacy
 * SSE), so an MCP client can connect at once. Run it alone with `node demo-server.mjs`; it
 * speaks newline-delimited JSON-RPC on stdin/stdout, as every stdio MCP server does.
 *
 * Tools: echo, add, now, count_words (reports progress). Resource: demo://about. Prompt: explain.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import {
  CallToolRequestSchema,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

const ABOUT = `This server runs as a child process of Tollgate, one per MCP session.
Everything it says travels through the gateway's plugin chain: authentication, rate limits,
circuit breaking and logs apply to MCP traffic as they do to HTTP APIs.`;

const server = new Server({ name: 'tollgate-demo', version: '1.0.0' }, { capabilities: { tools: {}, resources: {}, prompts: {} } });

const tools = [
  {
    name: 'echo',
    description: 'Returns the text it is given.',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    run: ({ text }) => String(text),
  },
  {
    name: 'add',
    description: 'Adds two numbers.',
    inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
    run: ({ a, b }) => String(Number(a) + Number(b)),
  },
  {
    name: 'now',
    description: 'The current time on the gateway host, ISO 8601.',
    inputSchema: { type: 'object', properties: {} },
    run: () => new Date().toISOString(),
  },
  {
    name: 'count_words',
    description: 'Counts the words of a text, reporting progress line by line.',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
    run: async ({ text }, extra, progressToken) => {
      const lines = String(text).split('\n');
      let words = 0;
      for (const [i, line] of lines.entries()) {
        words += line.split(/\s+/).filter(Boolean).length;
        if (progressToken !== undefined) {
          await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: i + 1, total: lines.length } });
        }
      }
      return `${words} words`;
    },
  },
];

server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: tools.map(({ name, description, inputSchema }) => ({ name, description, inputSchema })),
}));

server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
  const tool = tools.find((t) => t.name === request.params.name);
  if (!tool) return { isError: true, content: [{ type: 'text', text: `No tool named ${request.params.name}` }] };
  const text = await tool.run(request.params.arguments ?? {}, extra, request.params._meta?.progressToken);
  return { content: [{ type: 'text', text }] };
});

server.setRequestHandler(ListResourcesRequestSchema, async () => ({
  resources: [{ uri: 'demo://about', name: 'about', description: 'What this demo server is', mimeType: 'text/plain' }],
}));

server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
  if (request.params.uri !== 'demo://about') throw new Error(`No resource ${request.params.uri}`);
  return { contents: [{ uri: 'demo://about', mimeType: 'text/plain', text: ABOUT }] };
});

server.setRequestHandler(ListPromptsRequestSchema, async () => ({
  prompts: [{ name: 'explain', description: 'Asks for an explanation of a topic', arguments: [{ name: 'topic', required: true }] }],
}));

server.setRequestHandler(GetPromptRequestSchema, async (request) => {
  if (request.params.name !== 'explain') throw new Error(`No prompt ${request.params.name}`);
  const topic = request.params.arguments?.topic ?? 'API gateways';
  return { messages: [{ role: 'user', content: { type: 'text', text: `Explain ${topic} in three sentences.` } }] };
});

// The gateway ends a session by closing stdin first (MCP stdio shutdown).
process.stdin.on('end', () => process.exit(0));
await server.connect(new StdioServerTransport());
