/**
 * Every error tome throws across a module boundary is a {@link TomeError}: a closed `code`, a message that names
 * the bad value, and a `fix` that tells the user what to do. The CLI prints message and fix and exits with 2;
 * library users switch on `code`.
 */
export type TomeErrorCode =
  | 'INPUT_NOT_FOUND'
  | 'INPUT_IS_DIRECTORY'
  | 'INPUT_EMPTY'
  | 'INPUT_BINARY'
  | 'INPUT_UNREADABLE'
  | 'INVALID_OPTION'
  | 'MODEL_SPEC_INVALID'
  | 'MODEL_PROVIDER_MISSING'
  | 'PROMPT_OVERFLOW'
  | 'BUDGET_TOO_SMALL'
  | 'CHECKPOINT_MISMATCH'
  | 'CHECKPOINT_UNREADABLE'
  | 'PIPELINE_NOT_FOUND'
  | 'PIPELINE_EXISTS'
  | 'PLUGIN_LOAD_FAILED'
  | 'STEP_FAILED'
  | 'QUEUE_PAYLOAD_INVALID'
  | 'QUEUE_UNAVAILABLE'
  | 'JOB_NOT_FOUND'
  | 'MODEL_FILE_MISSING'
  | 'MODEL_FILE_INVALID'
  | 'MODEL_CONFIG_INVALID'
  | 'MODEL_ARCHITECTURE_UNSUPPORTED'
  | 'MODEL_WEIGHTS_MISMATCH'
  | 'MODEL_TOKENIZER_INVALID'
  | 'MODEL_NOT_CACHED'
  | 'MODEL_DOWNLOAD_FAILED'
  | 'ENGINE_FAILED'
  | 'ABORTED';

const TOME_ERROR_BRAND = Symbol.for('tome.error');

export class TomeError extends Error {
  readonly [TOME_ERROR_BRAND] = true;
  /** What the user can do about it, one sentence. */
  readonly fix: string;

  constructor(
    readonly code: TomeErrorCode,
    message: string,
    options: { fix: string; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.fix = options.fix;
  }

  /** Works across copies of the package (a brand, not `instanceof`). */
  static is(value: unknown): value is TomeError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TOME_ERROR_BRAND] === true;
  }
}

/** The input document cannot be used: missing, a directory, empty, binary or unreadable. */
export class InputError extends TomeError {
  constructor(
    code: Extract<TomeErrorCode, `INPUT_${string}`>,
    readonly path: string,
    problem: string,
    fix: string,
    cause?: unknown,
  ) {
    super(code, `${path}: ${problem}`, { fix, cause });
  }
}

/** An option has a value tome cannot work with. */
export class InvalidOptionError extends TomeError {
  constructor(
    readonly option: string,
    readonly value: unknown,
    expectation: string,
  ) {
    super('INVALID_OPTION', `${option} = ${JSON.stringify(value)} is invalid: ${expectation}`, {
      fix: `pass ${option} as ${expectation}`,
    });
  }
}

/** A model spec that names no known engine or provider, or a provider whose package is not installed. */
export class ModelSpecError extends TomeError {
  constructor(
    code: 'MODEL_SPEC_INVALID' | 'MODEL_PROVIDER_MISSING',
    readonly spec: string,
    problem: string,
    fix: string,
    cause?: unknown,
  ) {
    super(code, `model "${spec}": ${problem}`, { fix, cause });
  }
}

/**
 * A prompt would not fit the model's context window. Pipelines size every prompt before sending it, so this
 * signals budgets that cannot work together (e.g. a chunk size larger than the window allows).
 */
export class PromptOverflowError extends TomeError {
  constructor(
    readonly step: string,
    readonly promptTokens: number,
    readonly reservedOutputTokens: number,
    readonly contextWindow: number,
    fix = 'lower --chunk-tokens or --summary-tokens, or use a model with a larger --context-window',
  ) {
    super(
      'PROMPT_OVERFLOW',
      `${step}: prompt of ${promptTokens} tokens + ${reservedOutputTokens} reserved for the answer exceeds the ${contextWindow}-token context window`,
      { fix },
    );
  }
}

/** The checkpoint file belongs to another run, or cannot be read. */
export class CheckpointError extends TomeError {
  constructor(
    code: 'CHECKPOINT_MISMATCH' | 'CHECKPOINT_UNREADABLE',
    readonly path: string,
    problem: string,
    fix: string,
    cause?: unknown,
  ) {
    super(code, `checkpoint ${path}: ${problem}`, { fix, cause });
  }
}

/** A named pipeline is unknown, registered twice, or its plugin module failed to load. */
export class PipelineRegistryError extends TomeError {
  constructor(code: 'PIPELINE_NOT_FOUND' | 'PIPELINE_EXISTS' | 'PLUGIN_LOAD_FAILED', message: string, fix: string, cause?: unknown) {
    super(code, message, { fix, cause });
  }
}

/** A step failed after its last retry; names the step so the user knows where a long run stopped. */
export class StepFailedError extends TomeError {
  constructor(
    readonly step: string,
    readonly attempts: number,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('STEP_FAILED', `step ${step} failed after ${attempts} attempt(s): ${reason}`, {
      fix: 'check the model service, then rerun with the same --checkpoint to resume where it stopped',
      cause,
    });
  }
}

/** The run was cancelled through its AbortSignal. */
export class AbortedError extends TomeError {
  constructor(reason?: unknown) {
    super('ABORTED', `run aborted${reason instanceof Error ? `: ${reason.message}` : ''}`, {
      fix: 'rerun with the same --checkpoint to resume',
      cause: reason,
    });
  }
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError(signal.reason);
}

/** Queue trouble the user can act on: a payload over the limit or malformed, no Redis, or an unknown job id. */
export class QueueError extends TomeError {
  constructor(code: 'QUEUE_PAYLOAD_INVALID' | 'QUEUE_UNAVAILABLE' | 'JOB_NOT_FOUND', message: string, fix: string, cause?: unknown) {
    super(code, message, { fix, cause });
  }
}

/** Codes for a local checkpoint that cannot be loaded or run. */
export type ModelLoadErrorCode = Extract<TomeErrorCode, `MODEL_${'FILE' | 'CONFIG' | 'ARCHITECTURE' | 'WEIGHTS' | 'TOKENIZER' | 'NOT' | 'DOWNLOAD'}_${string}`>;

/**
 * A local checkpoint cannot be loaded: a file is missing or corrupt, config.json or a tensor disagrees with what
 * the architecture needs, or a hub download is impossible. Names the file and, where there is one, the field or
 * tensor, so the user can find the problem without reading our code.
 */
export class ModelLoadError extends TomeError {
  constructor(
    code: ModelLoadErrorCode,
    /** The file at fault (or the repo id / directory when no single file is). */
    readonly file: string,
    /** The config field or tensor name at fault, when there is one. */
    readonly field: string | undefined,
    problem: string,
    fix: string,
    cause?: unknown,
  ) {
    super(code, `${file}${field === undefined ? '' : ` [${field}]`}: ${problem}`, { fix, cause });
  }
}

/** The local inference engine failed while running (ONNX Runtime error, worker thread exited). */
export class EngineError extends TomeError {
  constructor(message: string, fix: string, cause?: unknown) {
    super('ENGINE_FAILED', message, { fix, cause });
  }
}
