/**
 * A fault-injecting TCP proxy for the failure suites: it sits between the gateway and a real database server
 * on loopback and can forward (pass), drop every connection (cut), or go silent while keeping every socket
 * open (stall), then come back (resume).
 *
 *   pass   forward bytes both ways (with back-pressure).
 *   cut    destroy every open connection in both directions; new connections are reset as soon as they arrive.
 *   stall  keep every socket open but forward nothing in either direction: bytes are HELD (read into a bounded
 *          buffer, then left in the kernel), never dropped. New connections are accepted and held without
 *          connecting upstream — like a black-holed network or a frozen server.
 *   resume back to pass. By default the connections held during the stall are destroyed so that clients
 *          reconnect; resume({ keep: true }) instead connects the held ones upstream and delivers what was held,
 *          late (the "network came back" case).
 *
 * Bounded: at most maxConnections client connections (more are reset), at most maxHeldBytes held per direction
 * per connection (then that side stops being read). Loopback only, both ends. close() ends everything.
 */
import net, { type AddressInfo, type Socket } from 'node:net';

export type FaultMode = 'pass' | 'cut' | 'stall';

export interface FaultProxyOptions {
  /** Client connections open at once; more are reset on arrival. Default 64. */
  maxConnections?: number;
  /** Bytes held per direction per connection while stalled before that side stops being read. Default 1 MiB. */
  maxHeldBytes?: number;
}

export interface FaultProxyStats {
  /** Client connections accepted since start (including ones reset in cut mode or over the limit). */
  accepted: number;
  /** Client connections open now. */
  open: number;
  /** Most client connections open at once since start or the last resetPeak(). */
  peak: number;
  /** Connections reset on arrival (cut mode or over maxConnections). */
  refused: number;
}

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  readonly mode: FaultMode;
  /** The same URL with its host and port replaced by the proxy's (user, password, path and query kept). */
  url(targetUrl: string): string;
  pass(): void;
  cut(): void;
  stall(): void;
  resume(opts?: { keep?: boolean }): void;
  stats(): FaultProxyStats;
  resetPeak(): void;
  close(): Promise<void>;
}

type Held = Buffer | 'end';

interface Side {
  socket: Socket;
  /** Held items travelling FROM this side (bytes read from it, and its end-of-stream). */
  held: Held[];
  heldBytes: number;
  ended: boolean;
}

interface Link {
  client: Side;
  upstream: Side | null;
  dead: boolean;
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

export async function startFaultProxy(target: { host: string; port: number }, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  if (!isLoopback(target.host)) throw new Error(`fault proxy: target ${target.host} is not a loopback address`);
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) throw new Error(`fault proxy: bad target port ${target.port}`);
  const maxConnections = opts.maxConnections ?? 64;
  const maxHeldBytes = opts.maxHeldBytes ?? 1 << 20;

  let mode: FaultMode = 'pass';
  let closed = false;
  const links = new Set<Link>();
  const stats: FaultProxyStats = { accepted: 0, open: 0, peak: 0, refused: 0 };

  const reset = (s: Socket) => {
    // RST rather than FIN, like a connection cut by the network or a killed server.
    if (typeof s.resetAndDestroy === 'function' && !s.destroyed) {
      try {
        s.resetAndDestroy();
        return;
      } catch {
        // not connected yet: plain destroy below
      }
    }
    s.destroy();
  };

  const kill = (link: Link) => {
    if (link.dead) return;
    link.dead = true;
    links.delete(link);
    stats.open = links.size;
    reset(link.client.socket);
    if (link.upstream) reset(link.upstream.socket);
  };

  const other = (link: Link, from: Side): Side | null => (from === link.client ? link.upstream : link.client);

  /** Deliver what `from` has held to the other side (pass mode only). */
  const flush = (link: Link, from: Side) => {
    const to = other(link, from);
    if (!to || link.dead) return;
    while (from.held.length) {
      const item = from.held.shift()!;
      if (item === 'end') {
        to.socket.end();
        continue;
      }
      from.heldBytes -= item.length;
      to.socket.write(item);
    }
    if (!from.ended) from.socket.resume();
  };

  const wire = (link: Link, from: Side) => {
    const s = from.socket;
    s.on('data', (chunk: Buffer) => {
      if (link.dead) return;
      const to = other(link, from);
      if (mode !== 'pass' || !to || from.held.length) {
        from.held.push(chunk);
        from.heldBytes += chunk.length;
        if (from.heldBytes >= maxHeldBytes) s.pause();
        return;
      }
      if (!to.socket.write(chunk)) {
        s.pause();
        to.socket.once('drain', () => {
          if (!link.dead && from.heldBytes < maxHeldBytes) s.resume();
        });
      }
    });
    s.on('end', () => {
      from.ended = true;
      if (link.dead) return;
      const to = other(link, from);
      if (mode === 'pass' && to && !from.held.length) to.socket.end();
      else from.held.push('end');
    });
    s.on('error', () => {
      // A reset from one end: pass it on at once, unless stalled (then it is held like everything else).
      if (mode === 'stall') {
        if (!from.ended) {
          from.ended = true;
          from.held.push('end');
        }
        return;
      }
      kill(link);
    });
    s.on('close', () => {
      if (link.dead) return;
      if (mode === 'stall') {
        if (!from.ended) {
          from.ended = true;
          from.held.push('end');
        }
        return;
      }
      const to = other(link, from);
      if (!to || to.socket.destroyed) {
        kill(link);
        return;
      }
      // Let the other side flush what it was given, then make sure it goes away.
      to.socket.end();
      setTimeout(() => kill(link), 1000).unref();
    });
  };

  const connectUpstream = (link: Link) => {
    const u = net.connect({ host: target.host, port: target.port, allowHalfOpen: true });
    u.setNoDelay(true);
    link.upstream = { socket: u, held: [], heldBytes: 0, ended: false };
    wire(link, link.upstream);
    u.once('connect', () => flush(link, link.client));
  };

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => {
    stats.accepted += 1;
    socket.setNoDelay(true);
    if (closed || mode === 'cut' || links.size >= maxConnections) {
      stats.refused += 1;
      socket.on('error', () => {});
      reset(socket);
      return;
    }
    const link: Link = { client: { socket, held: [], heldBytes: 0, ended: false }, upstream: null, dead: false };
    links.add(link);
    stats.open = links.size;
    stats.peak = Math.max(stats.peak, links.size);
    wire(link, link.client);
    if (mode === 'pass') connectUpstream(link);
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  const proxy: FaultProxy = {
    host: '127.0.0.1',
    port,
    get mode() {
      return mode;
    },
    url(targetUrl) {
      const u = new URL(targetUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    pass() {
      if (mode === 'stall') proxy.resume();
      else mode = 'pass';
    },
    cut() {
      mode = 'cut';
      for (const link of [...links]) kill(link);
    },
    stall() {
      mode = 'stall';
    },
    resume(o = {}) {
      const wasStalled = mode === 'stall';
      mode = 'pass';
      if (!wasStalled) return;
      for (const link of [...links]) {
        if (!o.keep) {
          kill(link);
          continue;
        }
        if (!link.upstream) {
          connectUpstream(link);
        } else {
          flush(link, link.client);
        }
        if (link.upstream) flush(link, link.upstream);
        // A side that closed while held: its peer goes once it has what was held.
        if (link.client.socket.destroyed || link.upstream?.socket.destroyed) setTimeout(() => kill(link), 1000).unref();
      }
    },
    stats: () => ({ ...stats, open: links.size }),
    resetPeak() {
      stats.peak = links.size;
    },
    async close() {
      if (closed) return;
      closed = true;
      mode = 'cut';
      for (const link of [...links]) kill(link);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
