/**
 * Calls to the authorization server (discovery, JWKS, introspection): bounded in time and size,
 * redirects not followed (a JWKS that moves is a misconfiguration to see, not to chase), and
 * every failure one error type that says what failed without echoing what the server sent.
 */
import { Agent, request } from 'undici';

/** The largest document accepted from an authorization server (a JWKS of a few keys is ~2 KiB). */
export const MAX_DOCUMENT_BYTES = 1024 * 1024;

/** The authorization server could not be used: unreachable, slow, or its answer unusable. */
export class AuthServerError extends Error {
  override name = 'AuthServerError';
}

export interface FetchOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** One authorization server's HTTP client: its own connection pool, closed with it. */
export class AuthServerHttp {
  private readonly agent: Agent;

  constructor(
    private readonly timeoutMs: number,
    verifyTls: boolean,
  ) {
    this.agent = new Agent({ keepAliveTimeout: 10_000, connect: { timeout: timeoutMs, rejectUnauthorized: verifyTls } });
  }

  /** The JSON object at `url`; throws AuthServerError (`what` names the document) on anything else. */
  async json(url: string, what: string, options: FetchOptions = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method: options.method ?? 'GET',
        headers: { accept: 'application/json', ...options.headers },
        body: options.body,
        dispatcher: this.agent,
        signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      throw new AuthServerError(`${what}: ${url} could not be reached (${describe(err, timeout)})`, { cause: err });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > MAX_DOCUMENT_BYTES) {
          res.body.destroy();
          throw new AuthServerError(`${what}: ${url} answered more than ${MAX_DOCUMENT_BYTES} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof AuthServerError) throw err;
      throw new AuthServerError(`${what}: ${url} broke off its answer (${describe(err, timeout)})`, { cause: err });
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      throw new AuthServerError(`${what}: ${url} answered ${res.statusCode} without a JSON body`);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AuthServerError(`${what}: ${url} answered ${res.statusCode} with JSON that is not an object`);
    return { status: res.statusCode, body: body as Record<string, unknown> };
  }

  close(): void {
    this.agent.close().catch(() => undefined);
  }
}

function describe(err: unknown, timeout: AbortSignal): string {
  if (timeout.aborted) return 'timed out';
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : ((err as Error)?.message ?? String(err));
}
