/**
 * Node selection. Nodes are grouped by `priority` (highest first): a lower group is used only
 * when every node of the higher groups has been tried for this request, as in APISIX.
 */

export interface UpstreamNode {
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly priority: number;
  /** `host:port` (IPv6 hosts in brackets): the pool key and the log's upstream address. */
  readonly address: string;
}

export interface Balancer {
  /** Picks a node not in `tried`; `hashKey` feeds consistent hashing. */
  pick(tried: ReadonlySet<UpstreamNode> | undefined, hashKey?: string): UpstreamNode | undefined;
  /** least_conn bookkeeping; no-ops for the others. */
  started(node: UpstreamNode): void;
  finished(node: UpstreamNode): void;
}

type Strategy = (nodes: UpstreamNode[]) => Omit<Balancer, 'pick'> & {
  pick(tried: ReadonlySet<UpstreamNode> | undefined, hashKey?: string): UpstreamNode | undefined;
};

export function createBalancer(type: 'roundrobin' | 'chash' | 'least_conn', nodes: UpstreamNode[]): Balancer {
  const usable = nodes.filter((n) => n.weight > 0);
  const strategy: Strategy = type === 'chash' ? consistentHash : type === 'least_conn' ? leastConnections : smoothRoundRobin;
  const groups = [...new Set(usable.map((n) => n.priority))].sort((a, b) => b - a).map((p) =>
    strategy(usable.filter((n) => n.priority === p)),
  );
  if (groups.length === 1) return groups[0];
  return {
    pick(tried, hashKey) {
      for (const group of groups) {
        const node = group.pick(tried, hashKey);
        if (node) return node;
      }
      return undefined;
    },
    started: (node) => groups.forEach((g) => g.started(node)),
    finished: (node) => groups.forEach((g) => g.finished(node)),
  };
}

/** nginx's smooth weighted round robin: even spread, honours weights, no bursts. */
function smoothRoundRobin(nodes: UpstreamNode[]): Balancer {
  const current = new Float64Array(nodes.length);
  const total = nodes.reduce((sum, n) => sum + n.weight, 0);
  return {
    pick(tried) {
      if (nodes.length === 1) return tried?.has(nodes[0]) ? undefined : nodes[0];
      let best = -1;
      let weightSum = 0;
      for (let i = 0; i < nodes.length; i++) {
        if (tried?.has(nodes[i])) continue;
        current[i] += nodes[i].weight;
        weightSum += nodes[i].weight;
        if (best < 0 || current[i] > current[best]) best = i;
      }
      if (best < 0) return undefined;
      current[best] -= tried ? weightSum : total;
      return nodes[best];
    },
    started() {},
    finished() {},
  };
}

/** A hash ring with 160 points per unit of weight share; a key keeps its node while nodes stay. */
function consistentHash(nodes: UpstreamNode[]): Balancer {
  const points: Array<{ hash: number; node: UpstreamNode }> = [];
  const maxWeight = Math.max(...nodes.map((n) => n.weight));
  for (const node of nodes) {
    const replicas = Math.max(1, Math.round((160 * node.weight) / maxWeight));
    for (let i = 0; i < replicas; i++) points.push({ hash: hash32(`${node.address}#${i}`), node });
  }
  points.sort((a, b) => a.hash - b.hash);
  return {
    pick(tried, hashKey = '') {
      if (points.length === 0) return undefined;
      const h = hash32(hashKey);
      let lo = 0;
      let hi = points.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (points[mid].hash < h) lo = mid + 1;
        else hi = mid;
      }
      for (let i = 0; i < points.length; i++) {
        const node = points[(lo + i) % points.length].node;
        if (!tried?.has(node)) return node;
      }
      return undefined;
    },
    started() {},
    finished() {},
  };
}

/** Fewest in-flight requests relative to weight. */
function leastConnections(nodes: UpstreamNode[]): Balancer {
  const active = new Map<UpstreamNode, number>(nodes.map((n) => [n, 0]));
  return {
    pick(tried) {
      let best: UpstreamNode | undefined;
      let bestScore = Infinity;
      for (const node of nodes) {
        if (tried?.has(node)) continue;
        const score = (active.get(node)! + 1) / node.weight;
        if (score < bestScore) {
          best = node;
          bestScore = score;
        }
      }
      return best;
    },
    started: (node) => void active.set(node, (active.get(node) ?? 0) + 1),
    finished: (node) => void active.set(node, Math.max(0, (active.get(node) ?? 1) - 1)),
  };
}

/** FNV-1a with murmur3's final mix, for an even spread of similar keys. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
