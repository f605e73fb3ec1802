/**
 * The checkpoint's tokenizer: tokenizer.json through @huggingface/tokenizers, the chat template from
 * tokenizer_config.json (or chat_template.jinja / chat_template.json, which newer transformers write) rendered with
 * @huggingface/jinja, and the end-of-sequence ids gathered from every file that declares them.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelLoadError } from '../../src/errors.js';
import type { ChatMessage, ChatTokenizer, LlamaConfig } from './types.js';

const REDOWNLOAD = 'download tokenizer.json and tokenizer_config.json again from the checkpoint repository';

/**
 * Load tokenizer.json (required), tokenizer_config.json, generation_config.json and any chat template file.
 * @throws ModelLoadError MODEL_FILE_MISSING without tokenizer.json; MODEL_TOKENIZER_INVALID for invalid tokenizer
 * JSON, an empty or absent `model.vocab`, ids beyond config.json's vocab_size, or a chat template that does not parse.
 */
export async function loadChatTokenizer(directory: string, config: LlamaConfig): Promise<ChatTokenizer> {
  const tokenizerPath = join(directory, 'tokenizer.json');
  const configPath = join(directory, 'tokenizer_config.json');
  const tokenizerJson = await readJson(tokenizerPath, 'MODEL_TOKENIZER_INVALID');
  if (tokenizerJson === undefined) {
    throw new ModelLoadError('MODEL_FILE_MISSING', tokenizerPath, undefined, 'not found', 'download tokenizer.json from the checkpoint repository into the checkpoint directory');
  }
  const tokenizerConfig = asObject(await readJson(configPath, 'MODEL_TOKENIZER_INVALID'), configPath);
  const generationPath = join(directory, 'generation_config.json');
  const generationConfig = asObject(await readJson(generationPath, 'MODEL_FILE_INVALID'), generationPath);

  const tokenizerObject = asObject(tokenizerJson, tokenizerPath);
  const model = tokenizerObject.model as { vocab?: unknown } | undefined;
  const vocab = model?.vocab;
  const vocabEntries = Array.isArray(vocab) ? vocab.length : typeof vocab === 'object' && vocab !== null ? Object.keys(vocab).length : 0;
  if (vocabEntries === 0) {
    throw new ModelLoadError('MODEL_TOKENIZER_INVALID', tokenizerPath, 'model.vocab', vocab === undefined ? 'is missing' : 'is empty', REDOWNLOAD);
  }
  let tokenizer: Tokenizer;
  try {
    // The library iterates added_tokens unconditionally; hand-made tokenizer files may leave it out.
    tokenizer = new Tokenizer({ added_tokens: [], ...tokenizerObject }, tokenizerConfig);
  } catch (cause) {
    throw new ModelLoadError('MODEL_TOKENIZER_INVALID', tokenizerPath, 'model', `cannot be loaded: ${(cause as Error).message}`, REDOWNLOAD, cause);
  }

  // A loop, not Math.max(...ids): spreading 150k ids into arguments overflows the stack.
  let vocabularySize = 0;
  for (const id of tokenizer.get_vocab(true).values()) vocabularySize = Math.max(vocabularySize, id + 1);
  if (vocabularySize > config.vocabSize) {
    throw new ModelLoadError(
      'MODEL_TOKENIZER_INVALID',
      tokenizerPath,
      'model.vocab',
      `produces ids up to ${vocabularySize - 1}, beyond config.json vocab_size ${config.vocabSize}`,
      'use the tokenizer that belongs to this checkpoint',
    );
  }

  const tokenText = (field: string): string | undefined => {
    const value = tokenizerConfig[field];
    // tokenizer_config.json writes special tokens either as strings or as serialized AddedToken objects.
    if (typeof value === 'string') return value;
    if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
    return undefined;
  };
  const idOf = (field: string): number | undefined => {
    const text = tokenText(field);
    return text === undefined ? undefined : tokenizer.token_to_id(text);
  };
  const generationIds = (field: string): number[] => {
    const value = generationConfig[field];
    if (typeof value === 'number' && Number.isInteger(value)) return [value];
    return Array.isArray(value) ? value.filter((id): id is number => typeof id === 'number' && Number.isInteger(id)) : [];
  };
  const eosTokenIds = [...new Set([...config.eosTokenIds, ...optional(idOf('eos_token')), ...generationIds('eos_token_id')])];
  const bosTokenId = config.bosTokenId ?? idOf('bos_token') ?? generationIds('bos_token_id')[0] ?? null;

  const template = await loadChatTemplate(directory, tokenizerConfig, configPath);
  const specialTokens: Record<string, string> = {};
  for (const field of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
    const text = tokenText(field);
    if (text !== undefined) specialTokens[field] = text;
  }
  return new CheckpointTokenizer(tokenizer, template, specialTokens, eosTokenIds, bosTokenId, vocabularySize);
}

function optional(value: number | undefined): number[] {
  return value === undefined ? [] : [value];
}

/** Parsed JSON, or undefined when the file does not exist. */
async function readJson(path: string, invalidCode: 'MODEL_TOKENIZER_INVALID' | 'MODEL_FILE_INVALID'): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelLoadError('MODEL_FILE_MISSING', path, undefined, `cannot be read: ${(cause as Error).message}`, 'check the file permissions', cause);
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ModelLoadError(invalidCode, path, undefined, `is not valid JSON (${(cause as Error).message})`, REDOWNLOAD, cause);
  }
}

function asObject(value: unknown, path: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ModelLoadError('MODEL_TOKENIZER_INVALID', path, undefined, 'is not a JSON object', REDOWNLOAD);
  }
  return value as Record<string, unknown>;
}

interface LoadedTemplate {
  template: Template | undefined;
  /** The file it came from (or should have): named in applyChatTemplate's errors. */
  file: string;
  /** Why there is none, when there is none. */
  problem?: string;
}

/** transformers' precedence: chat_template.jinja, then chat_template.json, then tokenizer_config.json. */
async function loadChatTemplate(directory: string, tokenizerConfig: Record<string, unknown>, configPath: string): Promise<LoadedTemplate> {
  const jinjaPath = join(directory, 'chat_template.jinja');
  let source: string | undefined;
  let origin = configPath;
  try {
    source = await readFile(jinjaPath, 'utf8');
    origin = jinjaPath;
  } catch {
    const jsonPath = join(directory, 'chat_template.json');
    const json = asObject(await readJson(jsonPath, 'MODEL_TOKENIZER_INVALID'), jsonPath);
    if (json.chat_template !== undefined) origin = jsonPath;
    const value = json.chat_template ?? tokenizerConfig.chat_template;
    if (typeof value === 'string') source = value;
    else if (Array.isArray(value)) {
      // A list of named templates: the plain chat template is the one named "default".
      const named = value.find((entry) => (entry as { name?: unknown } | null)?.name === 'default') as { template?: unknown } | undefined;
      if (typeof named?.template !== 'string') return { template: undefined, file: origin, problem: 'lists chat templates but none named "default"' };
      source = named.template;
    } else if (value !== undefined && value !== null) {
      throw new ModelLoadError('MODEL_TOKENIZER_INVALID', origin, 'chat_template', 'is neither a string nor a list of {name, template}', REDOWNLOAD);
    }
  }
  if (source === undefined) return { template: undefined, file: configPath, problem: 'has no chat_template' };
  try {
    return { template: new Template(source), file: origin };
  } catch (cause) {
    throw new ModelLoadError('MODEL_TOKENIZER_INVALID', origin, 'chat_template', `does not parse: ${(cause as Error).message}`, REDOWNLOAD, cause);
  }
}

class CheckpointTokenizer implements ChatTokenizer {
  readonly hasChatTemplate: boolean;

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly template: LoadedTemplate,
    private readonly specialTokens: Readonly<Record<string, string>>,
    readonly eosTokenIds: readonly number[],
    readonly bosTokenId: number | null,
    readonly vocabularySize: number,
  ) {
    this.hasChatTemplate = template.template !== undefined;
  }

  encode(text: string, options?: { addSpecialTokens?: boolean }): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options?.addSpecialTokens ?? false }).ids;
  }

  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string {
    // The library throws on an empty list; an empty generation is simply empty text.
    if (ids.length === 0) return '';
    return this.tokenizer.decode([...ids], { skip_special_tokens: options?.skipSpecialTokens ?? true });
  }

  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string {
    const template = this.template.template;
    if (template === undefined) {
      throw new ModelLoadError(
        'MODEL_TOKENIZER_INVALID',
        this.template.file,
        'chat_template',
        `${this.template.problem ?? 'is missing'}, so chat messages cannot be formatted`,
        'use an instruction-tuned checkpoint, whose tokenizer_config.json carries a chat_template',
      );
    }
    try {
      return template.render({
        ...this.specialTokens,
        messages: messages.map((message) => ({ ...message })),
        // transformers' default: no assistant header unless asked for.
        add_generation_prompt: options?.addGenerationPrompt ?? false,
      });
    } catch (cause) {
      throw new ModelLoadError(
        'MODEL_TOKENIZER_INVALID',
        this.template.file,
        'chat_template',
        `rendering failed: ${(cause as Error).message}`,
        'check the message roles and order against what the model accepts (many templates require alternating user/assistant turns)',
        cause,
      );
    }
  }
}
