/**
 * Turn a model spec into a checkpoint directory: a local directory as is, or a Hugging Face repo id
 * (`owner/name[@revision]`) resolved through the standard Hugging Face cache (shared with Python's huggingface_hub),
 * downloading only the files the loader reads when the cache lacks them.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { AbortedError, ModelLoadError } from '../../src/errors.js';

export interface ResolveCheckpointOptions {
  /** Hugging Face hub cache; default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Hub endpoint; default HF_ENDPOINT, else https://huggingface.co. */
  hubUrl?: string;
  /** Never touch the network (also when HF_HUB_OFFLINE is 1/true/yes/on). */
  offline?: boolean;
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

const REPO_ID = /^([A-Za-z0-9][\w.-]*)\/([A-Za-z0-9][\w.-]*)(?:@(\S+))?$/;
const COMMIT_HASH = /^[0-9a-f]{40}$/;
/** Give up on a request whose response headers have not arrived by then; body transfers are not limited. */
const CONNECT_TIMEOUT_MS = 10_000;
/** The files the loader reads; everything else in a repo (pickles, GGUF, ONNX, originals) is skipped. */
const WANTED = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'chat_template.jinja',
  'chat_template.json',
  'model.safetensors.index.json',
]);

/** The Hugging Face hub cache directory, resolved the way huggingface_hub does. */
export function defaultHubCacheDir(): string {
  const env = process.env;
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, 'hub');
  return join(homedir(), '.cache', 'huggingface', 'hub');
}

/**
 * A checkpoint directory for `spec`: an existing directory is returned as is; `owner/name[@revision]` is looked up
 * in the hub cache (a complete snapshot is used without any network access) and otherwise downloaded into it.
 * @throws ModelLoadError MODEL_FILE_MISSING when spec is neither a directory nor a repo id (or the repo has no
 * safetensors/config), MODEL_NOT_CACHED when offline and not cached, MODEL_DOWNLOAD_FAILED when the hub cannot be used.
 * @throws AbortedError when `signal` aborts the download.
 */
export async function resolveCheckpointDirectory(spec: string, options: ResolveCheckpointOptions = {}): Promise<string> {
  const info = statSync(spec, { throwIfNoEntry: false });
  if (info?.isDirectory()) return spec;
  const match = REPO_ID.exec(spec);
  if (info !== undefined || match === null) {
    throw new ModelLoadError(
      'MODEL_FILE_MISSING',
      spec,
      undefined,
      info !== undefined ? 'is a file, not a checkpoint directory' : 'no such directory, and not a hub repo id (owner/name[@revision])',
      'pass a checkpoint directory (config.json, tokenizer.json, *.safetensors) or a Hugging Face repo id such as Qwen/Qwen2.5-0.5B-Instruct',
    );
  }
  const repo = `${match[1]}/${match[2]}`;
  const revision = match[3] ?? 'main';
  const cacheDir = options.cacheDir ?? defaultHubCacheDir();
  const repoFolder = join(cacheDir, `models--${match[1]}--${match[2]}`);

  const cached = cachedSnapshot(repoFolder, revision);
  if (cached !== undefined) return cached;

  const offlineEnv = /^(1|true|yes|on)$/i.test(process.env.HF_HUB_OFFLINE ?? '');
  if (options.offline === true || offlineEnv) {
    throw new ModelLoadError(
      'MODEL_NOT_CACHED',
      spec,
      undefined,
      `not in the Hugging Face cache at ${repoFolder} (revision ${revision}), and offline mode${offlineEnv ? ' (HF_HUB_OFFLINE)' : ''} forbids downloading it`,
      `run once with network access (without offline mode), or fetch it with \`huggingface-cli download ${repo}\`, or pass a checkpoint directory`,
    );
  }
  return download(spec, repo, revision, cacheDir, repoFolder, options);
}

/** The snapshot directory for `revision` when it holds config.json, tokenizer.json and all safetensors weights. */
function cachedSnapshot(repoFolder: string, revision: string): string | undefined {
  let commit = revision;
  if (!COMMIT_HASH.test(revision)) {
    try {
      commit = readFileSync(join(repoFolder, 'refs', revision), 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  const snapshot = join(repoFolder, 'snapshots', commit);
  return isComplete(snapshot) ? snapshot : undefined;
}

function isComplete(snapshot: string): boolean {
  if (!existsSync(join(snapshot, 'config.json')) || !existsSync(join(snapshot, 'tokenizer.json'))) return false;
  if (existsSync(join(snapshot, 'model.safetensors'))) return true;
  const indexPath = join(snapshot, 'model.safetensors.index.json');
  if (!existsSync(indexPath)) return false;
  try {
    const weightMap = (JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map?: Record<string, unknown> }).weight_map ?? {};
    return Object.values(weightMap).every((shard) => typeof shard === 'string' && existsSync(join(snapshot, shard)));
  } catch {
    return true; // a corrupt index is reported by the loader, with its name; downloading again would not fix it
  }
}

async function download(
  spec: string,
  repo: string,
  revision: string,
  cacheDir: string,
  repoFolder: string,
  options: ResolveCheckpointOptions,
): Promise<string> {
  const hubUrl = options.hubUrl ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co';
  const token = process.env.HF_TOKEN;
  const common = {
    hubUrl,
    fetch: withConnectTimeout(options.fetch ?? fetch, options.signal),
    ...(token ? { accessToken: token } : {}),
  };
  try {
    // Loaded on demand: the cached and offline paths never pay for the hub client.
    const hub = await import('@huggingface/hub');
    const commit = COMMIT_HASH.test(revision) ? revision : (await hub.modelInfo({ ...common, name: repo, revision, additionalFields: ['sha'] })).sha;
    const files: string[] = [];
    for await (const entry of hub.listFiles({ ...common, repo, revision: commit })) {
      if (entry.type === 'file' && (WANTED.has(entry.path) || /^[^/]+\.safetensors$/.test(entry.path))) files.push(entry.path);
    }
    const missing = files.includes('config.json') ? (files.some((file) => file.endsWith('.safetensors')) ? undefined : 'safetensors weights') : 'config.json';
    if (missing !== undefined) {
      throw new ModelLoadError(
        'MODEL_FILE_MISSING',
        spec,
        missing === 'config.json' ? 'config.json' : '*.safetensors',
        `the repository has no ${missing} at revision ${revision}; only transformers checkpoints with safetensors weights can be loaded`,
        'pick a repository with model.safetensors (or convert the checkpoint with save_pretrained(safe_serialization=True)) and pass its directory',
      );
    }
    // The hub client announces each file with console.debug, which Node prints on stdout; stdout belongs to the
    // CLI's output, so those lines go to stderr while we download.
    const debug = console.debug;
    console.debug = (...args: unknown[]) => console.error(...args);
    try {
      for (const path of files) {
        options.signal?.throwIfAborted();
        await hub.downloadFileToCacheDir({ ...common, repo, path, revision: commit, cacheDir });
      }
    } finally {
      console.debug = debug;
    }
    if (commit !== revision) {
      // The ref is written last, so an interrupted download never looks like a complete cached snapshot.
      const refPath = join(repoFolder, 'refs', revision);
      await mkdir(dirname(refPath), { recursive: true });
      await writeFile(refPath, commit);
    }
    return join(repoFolder, 'snapshots', commit);
  } catch (error) {
    if (error instanceof ModelLoadError) throw error;
    if (options.signal?.aborted) throw new AbortedError(options.signal.reason);
    throw downloadFailed(spec, repo, hubUrl, repoFolder, error);
  }
}

function downloadFailed(spec: string, repo: string, hubUrl: string, repoFolder: string, error: unknown): ModelLoadError {
  const status = (error as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number') {
    const denied = status === 401 || status === 403 || status === 404;
    return new ModelLoadError(
      'MODEL_DOWNLOAD_FAILED',
      spec,
      undefined,
      `the hub at ${hubUrl} answered HTTP ${status}${denied ? ' (no such repository, or it is gated/private)' : ''}: ${(error as Error).message}`,
      denied ? `check the repo id; for a gated or private repo accept its license on the hub and set HF_TOKEN` : 'retry later, or pass a checkpoint directory',
      error,
    );
  }
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const reason = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (error as Error).message;
  return new ModelLoadError(
    'MODEL_DOWNLOAD_FAILED',
    spec,
    undefined,
    `not in the Hugging Face cache at ${repoFolder}, and the hub at ${hubUrl} was unreachable (${reason})`,
    `connect to the network once to download it, or copy the checkpoint into the cache (e.g. \`huggingface-cli download ${repo}\` on another machine), or pass a checkpoint directory`,
    error,
  );
}

/** fetch that fails when the response headers take longer than CONNECT_TIMEOUT_MS, and honours `signal`. */
function withConnectTimeout(base: typeof fetch, signal: AbortSignal | undefined): typeof fetch {
  return async (input, init) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no response within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
    const signals = [controller.signal];
    if (signal !== undefined) signals.push(signal);
    if (init?.signal) signals.push(init.signal);
    try {
      return await base(input, { ...init, signal: AbortSignal.any(signals) });
    } finally {
      clearTimeout(timer);
    }
  };
}
