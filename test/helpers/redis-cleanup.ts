import { Redis } from 'ioredis';

/** Delete every key a test left under its own prefix (after its queues were obliterated). */
export async function deleteKeysWithPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    const leftovers = await redis.keys(`${prefix}:*`);
    if (leftovers.length > 0) await redis.del(...leftovers);
  } finally {
    await redis.quit();
  }
}
