/**
 * Load a Hugging Face checkpoint directory (config.json, safetensors weights, tokenizer) into the contracts the
 * engine uses, checking everything up front so that a bad checkpoint fails here, with the file and field named.
 */
import { stat, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ModelLoadError } from '../../src/errors.js';
import { loadChatTokenizer } from './chat-tokenizer.js';
import { parseModelConfig } from './model-config.js';
import type { LoadedCheckpoint } from './types.js';
import { openWeightStore, validateWeights } from './weight-store.js';

/**
 * Load and validate a checkpoint directory. The returned weights hold open file handles: call
 * `checkpoint.weights.close()` when done.
 * @throws ModelLoadError (MODEL_FILE_MISSING, MODEL_FILE_INVALID, MODEL_CONFIG_INVALID, MODEL_ARCHITECTURE_UNSUPPORTED,
 * MODEL_WEIGHTS_MISMATCH, MODEL_TOKENIZER_INVALID) naming the file and field or tensor at fault.
 */
export async function loadCheckpoint(directory: string): Promise<LoadedCheckpoint> {
  const root = resolve(directory);
  const info = await stat(root).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) {
    throw new ModelLoadError(
      'MODEL_FILE_MISSING',
      root,
      undefined,
      info === undefined ? 'no such directory' : 'is not a directory',
      'pass a checkpoint directory in the Hugging Face layout (config.json, tokenizer.json, *.safetensors)',
    );
  }
  const configPath = join(root, 'config.json');
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (cause) {
    throw new ModelLoadError('MODEL_FILE_MISSING', configPath, undefined, 'not found', 'download config.json from the checkpoint repository into the directory', cause);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ModelLoadError('MODEL_FILE_INVALID', configPath, undefined, `is not valid JSON (${(cause as Error).message})`, 'download config.json again', cause);
  }
  const config = parseModelConfig(json, configPath);
  const weights = await openWeightStore(root);
  try {
    validateWeights(config, weights, configPath);
    const tokenizer = await loadChatTokenizer(root, config);
    return { directory: root, config, weights, tokenizer };
  } catch (error) {
    // Nobody else holds the store yet: close its file handles before reporting.
    await weights.close();
    throw error;
  }
}
