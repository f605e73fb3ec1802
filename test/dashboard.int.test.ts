/**
 * `startDashboard` end to end: bull-board over tome's queues, against the real Redis at 127.0.0.1:6379 (override with
 * TOME_TEST_REDIS_URL), looked at in headless Chromium (Debian's, at /usr/bin/chromium: `apt-get install -y
 * chromium`; a missing browser fails the test). Each test uses its own prefix `tome-test-dash-<uuid>`; afterwards the
 * browser and dashboard are closed, the queues obliterated and any key left under the prefix deleted. Set
 * TOME_DASHBOARD_SCREENSHOT=/tmp/dashboard.png to keep a screenshot of the queue page.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { chromium, type Browser } from 'playwright-core';
import { documentFromText, TomeError } from 'tome';
import { DOCUMENT_QUEUE, modelCallQueue, TASK_QUEUE, TomeQueue } from 'tome/queue';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DASHBOARD_DEFAULT_PORT, startDashboard, type Dashboard } from '../src/queue/dashboard.js';

const REDIS_URL = process.env.TOME_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CHROMIUM = '/usr/bin/chromium';

let prefix: string;
let queue: TomeQueue;
let redis: Redis;
let dashboard: Dashboard | undefined;
let browser: Browser | undefined;

beforeEach(async () => {
  prefix = `tome-test-dash-${randomUUID()}`;
  queue = await TomeQueue.connect({ url: REDIS_URL, prefix });
  redis = new Redis(REDIS_URL);
});

afterEach(async () => {
  await browser?.close();
  browser = undefined;
  await dashboard?.close();
  dashboard = undefined;
  queue.queueFor(DOCUMENT_QUEUE);
  queue.queueFor(TASK_QUEUE);
  await queue.obliterate();
  await queue.close();
  try {
    const leftovers = await redis.keys(`${prefix}:*`);
    if (leftovers.length > 0) await redis.del(...leftovers);
  } finally {
    await redis.quit();
  }
});

/** The dashboard's connections to Redis, by the name it gives them. */
async function dashboardClients(): Promise<number> {
  const list = (await redis.call('CLIENT', 'LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` name=tome-dashboard:${prefix} `)).length;
}

/** GET `path` from the dashboard with the given Host header (fetch will not send a foreign one). */
function get(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const call = request(url, { headers: { host } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    call.on('error', reject).end();
  });
}

describe('tome dashboard', () => {
  it('shows the documents queue and a waiting job in a browser, and queues of models used later', { timeout: 60_000 }, async () => {
    expect(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\``).toBe(true);
    const id = await queue.submitDocument(documentFromText('Call me Ishmael. Some years ago, never mind how long precisely.', 'moby.txt'), { pipeline: 'hierarchical-summary' });
    dashboard = await startDashboard({ connection: { url: REDIS_URL, prefix }, port: 0, refreshMs: 100 });
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    // The document is a flow: its first wave of model calls (children) already sits on the model's queue.
    expect(dashboard.queues()).toEqual([DOCUMENT_QUEUE, modelCallQueue('extractive')]);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    // Hermetic: the page asks for web fonts; nothing but the dashboard is reachable.
    const origin = new URL(dashboard.url).origin;
    await page.route((url) => url.origin !== origin, (route) => route.abort());
    const pageErrors: Error[] = [];
    page.on('pageerror', (error) => pageErrors.push(error));

    await page.goto(dashboard.url, { waitUntil: 'domcontentloaded' });
    await expect.poll(() => page.title()).toBe('tome');
    // The queue is in the menu and has its card in the overview, which counts the job.
    await expect.poll(() => page.getByRole('link', { name: DOCUMENT_QUEUE, exact: true }).count()).toBe(2);
    const card = page.getByRole('main').getByRole('link', { name: DOCUMENT_QUEUE, exact: true });
    await page.getByRole('main').getByText('1 Job', { exact: true }).first().waitFor();

    // The queue's default (latest) view, reached from its card, then its waiting list: the job is there by id.
    await card.click();
    await page.waitForURL(/\/queue\/documents/);
    const jobLink = page.getByRole('link', { name: id, exact: true });
    await jobLink.waitFor();
    await page.goto(`${dashboard.url}queue/${DOCUMENT_QUEUE}?status=waiting-children`, { waitUntil: 'domcontentloaded' });
    await jobLink.waitFor();
    expect(await jobLink.getAttribute('href')).toContain(`/queue/${DOCUMENT_QUEUE}/${id}`);
    await page.getByText('"hierarchical-summary"').waitFor();
    const screenshot = process.env.TOME_DASHBOARD_SCREENSHOT;
    if (screenshot) await page.screenshot({ path: screenshot });

    // A model first used now gets its queue shown at the next look, without a restart.
    const calls = modelCallQueue('another-model');
    await queue.queueFor(calls).waitUntilReady();
    await expect.poll(() => dashboard!.queues(), { timeout: 5000 }).toEqual([DOCUMENT_QUEUE, ...[modelCallQueue('extractive'), calls].sort()]);
    await page.reload({ waitUntil: 'domcontentloaded' });
    await page.getByRole('link', { name: calls, exact: true }).first().waitFor();
    // So does the tasks queue once a distributed run first queues a step (RedisExecutor: --queue commands).
    expect(await page.getByRole('link', { name: TASK_QUEUE, exact: true }).count()).toBe(0);
    await queue.queueFor(TASK_QUEUE).add('hierarchical-summary/leaf', { task: 'hierarchical-summary/leaf', input: {}, index: 0 });
    await expect.poll(() => dashboard!.queues(), { timeout: 5000 }).toEqual([DOCUMENT_QUEUE, ...[modelCallQueue('extractive'), calls, TASK_QUEUE].sort()]);
    await page.reload({ waitUntil: 'domcontentloaded' });
    await page.getByRole('link', { name: TASK_QUEUE, exact: true }).first().waitFor();
    // And it has its card in the overview.
    await page.goto(dashboard.url, { waitUntil: 'domcontentloaded' });
    await page.getByRole('main').getByRole('link', { name: TASK_QUEUE, exact: true }).waitFor();
    expect(pageErrors).toEqual([]);
  });

  it('is read-only, answers only requests addressed to it, and close() leaves no connection behind', async () => {
    dashboard = await startDashboard({ connection: { url: REDIS_URL, prefix }, port: 0 });
    const { port } = new URL(dashboard.url);
    await expect.poll(dashboardClients).toBe(1);

    const listed = (await (await fetch(`${dashboard.url}api/queues`)).json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    expect(listed.queues.map((shown) => [shown.name, shown.readOnlyMode])).toEqual([[DOCUMENT_QUEUE, true]]);
    expect(await get(dashboard.url, `localhost:${port}`)).toBe(200);
    // A page on another site whose name was made to resolve to 127.0.0.1 (DNS rebinding) gets nothing.
    expect(await get(`${dashboard.url}api/queues`, `attacker.example:${port}`)).toBe(403);

    await dashboard.close();
    await dashboard.close();
    await expect(fetch(dashboard.url)).rejects.toThrow();
    await expect.poll(dashboardClients).toBe(0);
    dashboard = undefined;
    expect(DASHBOARD_DEFAULT_PORT).toBe(3000);
  });

  it('fails at once, without the password, when Redis cannot be reached or the port is taken', async () => {
    const unreachable = await startDashboard({ connection: { url: 'redis://admin:hunter2@127.0.0.1:1' }, port: 0 }).catch((error: unknown) => error);
    expect(TomeError.is(unreachable) && unreachable.code).toBe('QUEUE_UNAVAILABLE');
    expect((unreachable as Error).message).toBe('cannot reach Redis at redis://admin:***@127.0.0.1:1');

    dashboard = await startDashboard({ connection: { url: REDIS_URL, prefix }, port: 0 });
    const taken = Number(new URL(dashboard.url).port);
    const busy = await startDashboard({ connection: { url: REDIS_URL, prefix }, port: taken }).catch((error: unknown) => error);
    expect(TomeError.is(busy) && busy.code).toBe('INVALID_OPTION');
    expect((busy as Error).message).toMatch(/--port.*EADDRINUSE/);
    // The failed start closed what it opened: only the running dashboard's connection is left.
    await expect.poll(dashboardClients).toBe(1);
  });
});
