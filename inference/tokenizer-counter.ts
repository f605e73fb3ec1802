import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { InputError } from '../src/errors.js';
import type { TokenCounter } from '../src/tokens/token-counter.js';

/** Counts tokens with a Hugging Face tokenizer (tokenizer.json): exact budgets for that model. */
export class TokenizerCounter implements TokenCounter {
  constructor(
    private readonly tokenizer: Tokenizer,
    readonly name: string,
  ) {}

  count(text: string): number {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids.length;
  }
}

/**
 * Load `tokenizer.json` (and `tokenizer_config.json` when present) from a checkpoint directory in the Hugging
 * Face layout.
 * @throws InputError INPUT_NOT_FOUND when the directory has no tokenizer.json, INPUT_UNREADABLE when it is not JSON.
 */
export async function loadTokenizerCounter(directory: string): Promise<TokenizerCounter> {
  const tokenizerPath = join(directory, 'tokenizer.json');
  const tokenizerJson = await readJson(tokenizerPath, true);
  const config = (await readJson(join(directory, 'tokenizer_config.json'), false)) ?? {};
  return new TokenizerCounter(new Tokenizer(tokenizerJson as object, config as object), `tokenizer:${directory}`);
}

async function readJson(path: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if (!required) return undefined;
    throw new InputError('INPUT_NOT_FOUND', path, 'no tokenizer.json here', 'pass a checkpoint directory in the Hugging Face layout (config.json, tokenizer.json, *.safetensors)', cause);
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new InputError('INPUT_UNREADABLE', path, 'is not valid JSON', 'download the checkpoint again', cause);
  }
}
