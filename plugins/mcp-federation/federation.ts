/**
 * A federation route's sessions (the kit's SessionManager with this as their BackendSource): each
 * client session's backend is a FederatedBackend over the route's servers. The federation also
 * uses each server as a bridge route does: it counts under the server's caps, its sessions show
 * on `/apisix/admin/mcp_servers/{id}/sessions` (and can be ended there: the client's session ends),
 * and an idle one is ended to make room at a cap of the server's.
 */
import type { Logger } from '../../core/logger.js';
import { asServerRecord, runFields, type BackendSource, type McpServer, type Runtime, type ServerUser, type Session, type SessionManager } from '../kit/mcp/index.js';
import { FederatedBackend, type FederationRoute } from './federated-backend.js';
import type { MemberSpec } from './member.js';
import type { FederationConf } from './schema.js';

/** A server of the route, read from the catalog when the route was built. */
export interface MemberRecord {
  readonly serverId: string;
  readonly prefix: string;
  /** The record, validated, defaults filled. */
  readonly value: Readonly<Record<string, unknown>>;
}

export class Federation implements BackendSource, FederationRoute {
  readonly ownsChild = false;
  readonly freesChildren: boolean;
  readonly specs: MemberSpec[];
  readonly runtime: Runtime;
  readonly routeId: string;
  private readonly users: Array<{ server: McpServer; user: ServerUser }> = [];
  private readonly logger: Logger;

  constructor(
    private readonly manager: SessionManager,
    readonly conf: FederationConf,
    members: readonly MemberRecord[],
    readonly maxRegexProgram: number,
  ) {
    this.runtime = manager.runtime;
    this.routeId = manager.routeId;
    this.logger = manager.logger;
    this.specs = members.map((member, index) => {
      const { definition, logLines, remote } = runFields(member.value);
      const user = this.serverUser(member.serverId);
      const server = this.runtime.servers.acquire(`mcp_servers/${member.serverId}`, member.serverId, user);
      server.define(definition, logLines, remote && { settings: remote, logger: this.runtime.logger.child({ mcp_server: member.serverId }) });
      this.users.push({ server, user });
      return { index, serverId: member.serverId, prefix: member.prefix, head: member.prefix + conf.separator, record: asServerRecord(member.value), server };
    });
    this.freesChildren = this.specs.some((spec) => spec.record.url === undefined);
  }

  admit(): void {
    // Each server is admitted when a session first needs it; the federation itself always can.
  }

  async start(session: Session): Promise<void> {
    session.connect((events, logger) => new FederatedBackend(this, { id: session.id, consumer: session.consumer, transport: session.transport }, events, logger));
  }

  /** A tool call's server: the one whose prefix the name has. */
  serverOf(_session: Session, tool: string | undefined): string | undefined {
    return tool === undefined ? undefined : this.specs.find((spec) => tool.startsWith(spec.head))?.serverId;
  }

  dispose(): void {
    for (const { server, user } of this.users) this.runtime.servers.release(server, user);
    this.users.length = 0;
  }

  /** How the federation's sessions look to one of its servers. */
  private serverUser(serverId: string): ServerUser {
    const holds = (session: Session) => backendOf(session)?.holds(serverId) === true;
    return {
      reclaimable: (now, owner) => this.manager.reclaimable(now, owner, holds),
      summaries: () =>
        this.manager.summaries(holds).map((summary) => {
          const session = this.manager.sessionById(summary.id);
          const backend = session ? backendOf(session)?.memberInfo(serverId) : null;
          const pid = backend?.kind === 'stdio' ? backend.pid : undefined;
          return { ...summary, backend: backend ?? null, ...(pid === undefined ? {} : { child_pid: pid }) };
        }),
      endSession: (id) => {
        const session = this.manager.sessionById(id);
        return session !== undefined && holds(session) && this.manager.endSession(id);
      },
    };
  }
}

function backendOf(session: Session): FederatedBackend | undefined {
  return session.backend instanceof FederatedBackend ? session.backend : undefined;
}
