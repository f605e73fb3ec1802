import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveCheckpointDirectory } from '../../inference/checkpoint/hub.js';
import { loadCheckpoint } from '../../inference/checkpoint/load-checkpoint.js';
import { expectLoadError, tempDir, writeTinyCheckpoint } from './checkpoint-helpers.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';

beforeEach(() => {
  // The machine's own settings must not decide these tests.
  vi.stubEnv('HF_HUB_OFFLINE', '');
  vi.stubEnv('HF_TOKEN', '');
  vi.stubEnv('HF_ENDPOINT', '');
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

/** A cache dir holding `owner/name` at revision main as a complete snapshot (files copied, not symlinked). */
async function cachedRepo(cacheDir: string, repo = 'acme/tiny'): Promise<string> {
  const repoFolder = join(cacheDir, `models--${repo.replace('/', '--')}`);
  const snapshot = join(repoFolder, 'snapshots', SHA);
  mkdirSync(snapshot, { recursive: true });
  await writeTinyCheckpoint({}, snapshot);
  mkdirSync(join(repoFolder, 'refs'), { recursive: true });
  writeFileSync(join(repoFolder, 'refs', 'main'), `${SHA}\n`);
  return snapshot;
}

describe('resolveCheckpointDirectory', () => {
  it('returns an existing directory as is', async () => {
    const directory = tempDir();
    expect(await resolveCheckpointDirectory(directory)).toBe(directory);
  });

  it('rejects a spec that is neither a directory nor a repo id', async () => {
    await expectLoadError(resolveCheckpointDirectory('/no/such/dir/at/all'), 'MODEL_FILE_MISSING', '/no/such/dir/at/all', 'not a hub repo id');
    await expectLoadError(resolveCheckpointDirectory('just-a-name'), 'MODEL_FILE_MISSING', 'just-a-name', 'not a hub repo id');
  });

  it('finds a complete cached snapshot offline, without any network access', async () => {
    const cacheDir = tempDir();
    const snapshot = await cachedRepo(cacheDir);
    const fetch = vi.fn<typeof globalThis.fetch>();
    expect(await resolveCheckpointDirectory('acme/tiny', { cacheDir, offline: true, fetch })).toBe(snapshot);
    expect(await resolveCheckpointDirectory('acme/tiny@main', { cacheDir, fetch })).toBe(snapshot);
    expect(await resolveCheckpointDirectory(`acme/tiny@${SHA}`, { cacheDir, fetch })).toBe(snapshot);
    expect(fetch).not.toHaveBeenCalled();
    const checkpoint = await loadCheckpoint(snapshot);
    await checkpoint.weights.close();
  });

  it('uses HF_HUB_CACHE, and HF_HOME/hub, when no cacheDir is given', async () => {
    const cacheDir = tempDir();
    const snapshot = await cachedRepo(cacheDir);
    vi.stubEnv('HF_HUB_OFFLINE', '1');
    vi.stubEnv('HF_HUB_CACHE', cacheDir);
    expect(await resolveCheckpointDirectory('acme/tiny')).toBe(snapshot);
    const home = tempDir();
    const homeSnapshot = await cachedRepo(join(home, 'hub'));
    vi.stubEnv('HF_HUB_CACHE', '');
    vi.stubEnv('HF_HOME', home);
    expect(await resolveCheckpointDirectory('acme/tiny')).toBe(homeSnapshot);
  });

  it('offline and not cached: MODEL_NOT_CACHED at once, naming the cache path', async () => {
    const cacheDir = tempDir();
    const started = Date.now();
    await expectLoadError(resolveCheckpointDirectory('acme/absent', { cacheDir, offline: true }), 'MODEL_NOT_CACHED', 'acme/absent', join(cacheDir, 'models--acme--absent'));
    vi.stubEnv('HF_HUB_OFFLINE', '1');
    await expectLoadError(resolveCheckpointDirectory('acme/absent', { cacheDir }), 'MODEL_NOT_CACHED', 'HF_HUB_OFFLINE');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('an incomplete cached snapshot (no weights) does not count as cached', async () => {
    const cacheDir = tempDir();
    const snapshot = await cachedRepo(cacheDir);
    const { rmSync } = await import('node:fs');
    rmSync(join(snapshot, 'model.safetensors'));
    await expectLoadError(resolveCheckpointDirectory('acme/tiny', { cacheDir, offline: true }), 'MODEL_NOT_CACHED', 'acme/tiny');
  });

  it('an unreachable hub fails fast with MODEL_DOWNLOAD_FAILED naming the cache path and a fix', async () => {
    const cacheDir = tempDir();
    const started = Date.now();
    const error = await expectLoadError(
      resolveCheckpointDirectory('acme/tiny', { cacheDir, hubUrl: 'http://127.0.0.1:9' }),
      'MODEL_DOWNLOAD_FAILED',
      'acme/tiny',
      'unreachable',
      join(cacheDir, 'models--acme--tiny'),
    );
    expect(error.fix).toMatch(/connect|copy|directory/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('an HTTP 401 says the repo may be gated and suggests HF_TOKEN', async () => {
    const fetch: typeof globalThis.fetch = async () => new Response('{"error":"Repository not found"}', { status: 401, headers: { 'content-type': 'application/json' } });
    const error = await expectLoadError(resolveCheckpointDirectory('acme/private', { cacheDir: tempDir(), fetch }), 'MODEL_DOWNLOAD_FAILED', 'HTTP 401');
    expect(error.fix).toContain('HF_TOKEN');
  });

  it('downloads only the files the loader reads into the cache, then finds them offline', async () => {
    const source = await writeTinyCheckpoint();
    writeFileSync(join(source, 'pytorch_model.bin'), 'pickle');
    writeFileSync(join(source, 'README.md'), '# tiny');
    const hub = fakeHub('acme/tiny', source);
    const cacheDir = tempDir();
    // The hub client logs each file it downloads; keep the test output quiet.
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const directory = await resolveCheckpointDirectory('acme/tiny', { cacheDir, hubUrl: 'https://hub.test', fetch: hub.fetch });
    expect(directory).toBe(join(cacheDir, 'models--acme--tiny', 'snapshots', SHA));
    expect(readdirSync(directory).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    expect(readFileSync(join(cacheDir, 'models--acme--tiny', 'refs', 'main'), 'utf8')).toBe(SHA);
    expect(hub.downloaded.sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    const checkpoint = await loadCheckpoint(directory);
    await checkpoint.weights.close();
    // Cached now: no network at all.
    expect(await resolveCheckpointDirectory('acme/tiny', { cacheDir, offline: true })).toBe(directory);
  });

  it('a repo without safetensors is reported as such, not downloaded', async () => {
    const source = await writeTinyCheckpoint();
    const { rmSync } = await import('node:fs');
    rmSync(join(source, 'model.safetensors'));
    writeFileSync(join(source, 'pytorch_model.bin'), 'pickle');
    const hub = fakeHub('acme/pickle', source);
    await expectLoadError(resolveCheckpointDirectory('acme/pickle', { cacheDir: tempDir(), hubUrl: 'https://hub.test', fetch: hub.fetch }), 'MODEL_FILE_MISSING', 'acme/pickle', 'safetensors');
    expect(hub.downloaded).toEqual([]);
  });
});

/** A fetch that answers the hub API calls @huggingface/hub makes, serving the files of `directory` at commit SHA. */
function fakeHub(repo: string, directory: string): { fetch: typeof globalThis.fetch; downloaded: string[] } {
  const downloaded: string[] = [];
  const files = readdirSync(directory);
  const json = (value: unknown) => new Response(JSON.stringify(value), { headers: { 'content-type': 'application/json' } });
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const path = decodeURIComponent(url.pathname);
    if (path === `/api/models/${repo}/revision/main`) return json({ _id: 'id', id: repo, sha: SHA, private: false });
    if (path === `/api/models/${repo}/tree/${SHA}`) {
      return json(files.map((file) => ({ type: 'file', path: file, size: readFileSync(join(directory, file)).length, oid: `oid-${file}` })));
    }
    if (path === `/api/models/${repo}/paths-info/${SHA}`) {
      const { paths } = JSON.parse(String(init?.body)) as { paths: string[] };
      return json(paths.map((file) => ({ type: 'file', path: file, size: readFileSync(join(directory, file)).length, oid: `oid-${file}`, lastCommit: { id: SHA, title: 't', date: '2024-01-01' } })));
    }
    const prefix = `/${repo}/resolve/${SHA}/`;
    if (path.startsWith(prefix)) {
      const file = path.slice(prefix.length);
      const body = readFileSync(join(directory, file));
      const range = /bytes=(\d+)-(\d+)/.exec(new Headers(init?.headers).get('range') ?? '');
      if (range !== null && range[1] === '0' && range[2] === '0') {
        return new Response(body.subarray(0, 1), { status: 206, headers: { 'content-range': `bytes 0-0/${body.length}`, etag: `"oid-${file}"` } });
      }
      downloaded.push(file);
      const start = range === null ? 0 : Number(range[1]);
      const end = range === null ? body.length : Number(range[2]) + 1;
      return new Response(body.subarray(start, end), { status: range === null ? 200 : 206, headers: { etag: `"oid-${file}"` } });
    }
    return new Response('not found', { status: 404 });
  };
  return { fetch, downloaded };
}
