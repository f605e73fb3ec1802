import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { InvalidOptionError } from '../errors.js';
import { probeConnection, resolveConnection, type QueueConnectionOptions } from './connection.js';
import { DOCUMENT_QUEUE, TASK_QUEUE } from './queue-names.js';

/** `tome dashboard` listens here unless told otherwise. */
export const DASHBOARD_DEFAULT_PORT = 3000;

/** How often the dashboard looks for queues that appeared (a model used for the first time) or went away. */
export const DASHBOARD_REFRESH_MS = 5000;

export interface DashboardOptions {
  readonly connection: QueueConnectionOptions;
  /** TCP port; default {@link DASHBOARD_DEFAULT_PORT}; 0 picks any free port (read it back from `url`). */
  readonly port?: number;
  /** Interface to listen on; default 127.0.0.1. Nothing guards the dashboard but this. */
  readonly host?: string;
  /** How often to look for new or removed queues, in ms; default {@link DASHBOARD_REFRESH_MS}. */
  readonly refreshMs?: number;
}

export interface Dashboard {
  /** Where the dashboard is served, e.g. `http://127.0.0.1:3000/`. */
  readonly url: string;
  /** The queues it shows now: `documents`, then by name each `calls-*` queue and `tasks` (once used). */
  queues(): readonly string[];
  /** Stop serving and close every Redis connection the dashboard opened. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * A read-only web dashboard (bull-board) over tome's queues under one prefix: the `documents` queue, the `tasks`
 * queue (steps of registered tasks and flows, once used) and every `calls-<model>-<hash>` queue found in Redis,
 * looked for again every {@link DASHBOARD_REFRESH_MS} so a queue first used later (a new model, the first
 * distributed flow) shows up. Read-only: it shows jobs and cannot change them. It listens on 127.0.0.1 and
 * answers only requests addressed to it, so a web page elsewhere cannot read it through DNS rebinding.
 * @throws QueueError QUEUE_UNAVAILABLE when Redis cannot be reached; InvalidOptionError for a bad or busy port.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const port = options.port ?? DASHBOARD_DEFAULT_PORT;
  const host = options.host ?? '127.0.0.1';
  const refreshMs = options.refreshMs ?? DASHBOARD_REFRESH_MS;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidOptionError('--port', port, 'a TCP port from 0 to 65535 (0: any free port)');
  if (!Number.isFinite(refreshMs) || refreshMs <= 0) throw new InvalidOptionError('refreshMs', refreshMs, 'a positive number of milliseconds');

  const connection = resolveConnection(options.connection);
  const { prefix } = connection;
  // Named, so `CLIENT LIST` tells which connections are a dashboard's.
  const connectionName = `tome-dashboard:${prefix}`.replace(/[^\w{}:.@-]/g, '_');
  await probeConnection(connection, { connectionName });

  // One connection for discovery and every Queue: the dashboard only reads, and nothing here blocks.
  const redis = connection.connect({ connectionName });
  const shown = new Map<string, Queue>();
  const open = (name: string): BullMQAdapter => {
    const queue = new Queue(name, { connection: redis, prefix });
    queue.on('error', () => {});
    shown.set(name, queue);
    return new BullMQAdapter(queue, { readOnlyMode: true });
  };

  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/');
  const board = createBullBoard({
    queues: [open(DOCUMENT_QUEUE)],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'tome', hideDocsLink: true } },
  });

  const refresh = async (): Promise<void> => {
    const found = await discoverQueues(redis, prefix);
    for (const name of found) if (!shown.has(name)) board.addQueue(open(name));
    for (const [name, queue] of shown) {
      if (found.includes(name)) continue;
      board.removeQueue(name);
      shown.delete(name);
      await queue.close();
    }
  };

  let closed = false;
  let refreshing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    // One look at a time; a failed look (Redis restarting) keeps the queues shown until the next one.
    refreshing = refreshing.then(() => (closed ? undefined : refresh())).catch(() => {});
  }, refreshMs);
  timer.unref();

  const app = serverAdapter.getRouter() as (request: IncomingMessage, response: ServerResponse) => void;
  const server = createServer((request, response) => {
    if (!allowedHost(request.headers.host, host, boundPort())) {
      response.writeHead(403, { 'content-type': 'text/plain' }).end('tome dashboard: unexpected Host header\n');
      return;
    }
    app(request, response);
  });
  const boundPort = () => (server.address() as AddressInfo | null)?.port ?? port;

  const release = async (): Promise<void> => {
    closed = true;
    clearInterval(timer);
    await refreshing;
    await Promise.all([...shown.values()].map((queue) => queue.close()));
    shown.clear();
    // BullMQ never closes a connection it was handed.
    redis.disconnect();
  };

  try {
    await refresh();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await release();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') throw new InvalidOptionError('--port', port, `a port free on ${host} (${code}); 0 picks any free port`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code?.startsWith('EAI_')) throw new InvalidOptionError('host', host, `an address of this machine (${code})`);
    throw error;
  }

  const url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort()}/`;
  let closing: Promise<void> | undefined;
  return {
    url,
    queues: () => [...shown.keys()].sort(queueOrder),
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Browsers keep connections alive; without this close() would wait for them to time out.
          server.closeAllConnections();
        });
        await release();
      })()),
  };
}

/**
 * The names of tome's queues under `prefix`: `documents`, always, then `tasks` and every `calls-*` queue that exists
 * in Redis. BullMQ writes a queue's `<prefix>:<name>:meta` hash as soon as a producer or worker opens it, and
 * obliterate removes it.
 */
export async function discoverQueues(redis: Redis, prefix: string): Promise<string[]> {
  const names = new Set<string>([DOCUMENT_QUEUE]);
  const pattern = `${escapeGlob(prefix)}:calls-*:meta`;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const name = key.slice(prefix.length + 1, -':meta'.length);
      // modelCallQueue() names; a job's own keys (`<queue>:<id>:…`) hold a colon in between and are not queues.
      if (/^calls-[a-z0-9-]+$/.test(name)) names.add(name);
    }
  } while (cursor !== '0');
  if ((await redis.exists(`${prefix}:${TASK_QUEUE}:meta`)) === 1) names.add(TASK_QUEUE);
  return [...names].sort(queueOrder);
}

const queueOrder = (a: string, b: string): number => (a === DOCUMENT_QUEUE ? -1 : b === DOCUMENT_QUEUE ? 1 : a.localeCompare(b));

/** `prefix` as a literal in a Redis MATCH pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * On a loopback address, only requests addressed to it (or to localhost): a web page elsewhere whose name is made to
 * resolve to 127.0.0.1 (DNS rebinding) gets nothing. Whoever listens on another address has chosen to be reachable.
 */
function allowedHost(header: string | undefined, host: string, port: number): boolean {
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
  if (!loopback) return true;
  if (header === undefined) return false;
  const names = new Set([host.includes(':') ? `[${host}]` : host, 'localhost', '127.0.0.1', '[::1]']);
  const allowed = new Set([...names].flatMap((name) => [`${name}:${port}`, ...(port === 80 ? [name] : [])]));
  return allowed.has(header.toLowerCase());
}
