import { Redis, type RedisOptions } from 'ioredis';
import { InvalidOptionError, QueueError } from '../errors.js';

/**
 * Where tome's queues live. `url` is `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS; the password
 * may also come from TOME_REDIS_PASSWORD so it never appears in a command line. `prefix` namespaces every key; the
 * default `{tome}` is a Redis Cluster hash tag, so all of a queue's keys land in one slot.
 */
export interface QueueConnectionOptions {
  readonly url: string;
  readonly prefix?: string;
}

export const DEFAULT_QUEUE_PREFIX = '{tome}';

export interface ResolvedConnection {
  readonly prefix: string;
  /** The URL with any password replaced by `***`: the only form that may appear in logs and errors. */
  readonly redactedUrl: string;
  /** A new connection. BullMQ wants one per Worker/QueueEvents (they block), and `maxRetriesPerRequest: null`. */
  connect(overrides?: RedisOptions): Redis;
}

export function resolveConnection(options: QueueConnectionOptions): ResolvedConnection {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new InvalidOptionError('--queue', redact(options.url), 'a Redis URL such as redis://127.0.0.1:6379');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new InvalidOptionError('--queue', redact(options.url), 'a redis:// or rediss:// URL');
  }
  const redisOptions: RedisOptions = {
    host: url.hostname,
    port: url.port === '' ? 6379 : Number(url.port),
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? process.env.TOME_REDIS_PASSWORD : decodeURIComponent(url.password),
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
  return {
    prefix: options.prefix ?? DEFAULT_QUEUE_PREFIX,
    redactedUrl: redact(options.url),
    connect: (overrides) => {
      const client = new Redis({ ...redisOptions, ...overrides });
      // ioredis re-emits connection trouble as 'error' events; unhandled, they would crash a long-running worker.
      client.on('error', () => {});
      return client;
    },
  };
}

/** The URL without its password. */
export function redact(url: string): string {
  // The password runs to the LAST '@' before the host (a raw '@' may appear inside it).
  return url.replace(/(\/\/[^:/@]*:)[^/?#]*@/, '$1***@');
}

/**
 * Fail fast on a wrong URL or a Redis that is down: a throwaway connection that gives up at once. The connections
 * kept afterwards retry forever, which suits a worker or dashboard riding out a Redis restart.
 * @throws QueueError QUEUE_UNAVAILABLE, naming the redacted URL.
 */
export async function probeConnection(connection: ResolvedConnection, overrides: RedisOptions = {}): Promise<void> {
  const probe = connection.connect({ ...overrides, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000 });
  try {
    await probe.connect();
    await probe.ping();
  } catch (cause) {
    throw new QueueError('QUEUE_UNAVAILABLE', `cannot reach Redis at ${connection.redactedUrl}`, 'start Redis (redis-server) or fix --queue', cause);
  } finally {
    probe.disconnect();
  }
}
