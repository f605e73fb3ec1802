/** Queue payload checks, connection parsing and queue names: no Redis needed (no client here ever connects). */
import { TomeError } from 'tome';
import { MAX_PAYLOAD_BYTES, checkDocumentJob, checkModelCallJob, modelCallQueue, redact, resolveConnection, DOCUMENT_QUEUE, DEFAULT_QUEUE_PREFIX } from 'tome/queue';
import { afterEach, describe, expect, it } from 'vitest';

const SHA = 'a'.repeat(64);
const validCall = { spec: 'extractive', messages: [{ type: 'human', data: { content: 'Summarize this.' } }], task: { kind: 'summarize', source: 'Some text.', wordLimit: 50 } };
const validDocument = { documentSha256: SHA, documentName: 'book.txt', pipeline: 'hierarchical-summary', options: { chunkTokens: '512' }, model: 'extractive', contextWindow: 8192 };

function thrownBy(action: () => unknown): TomeError {
  try {
    action();
  } catch (error) {
    expect(TomeError.is(error)).toBe(true);
    return error as TomeError;
  }
  throw new Error('expected the action to throw');
}

describe('checkModelCallJob', () => {
  it('accepts a valid call, with or without a task, and keeps its fields', () => {
    expect(checkModelCallJob(validCall)).toEqual(validCall);
    const { task: _task, ...withoutTask } = validCall;
    expect(checkModelCallJob(withoutTask)).toEqual(withoutTask);
    // Stored messages carry more than `content` (ids, metadata): kept, not stripped.
    const rich = { spec: 'openai:gpt-4o-mini', messages: [{ type: 'ai', data: { content: [{ type: 'text', text: 'hi' }], id: 'x', response_metadata: { a: 1 } } }] };
    expect(checkModelCallJob(rich)).toEqual(rich);
  });

  it.each([
    ['not an object', 'nonsense', '(root)'],
    ['no spec', { messages: validCall.messages }, 'spec'],
    ['an empty spec', { ...validCall, spec: '' }, 'spec'],
    ['a spec over 512 characters', { ...validCall, spec: 'x'.repeat(513) }, 'spec'],
    ['no messages', { spec: 'extractive', messages: [] }, 'messages'],
    ['a message without data', { spec: 'extractive', messages: [{ type: 'human' }] }, 'messages.0.data'],
    ['a message type that is not a string', { spec: 'extractive', messages: [{ type: 7, data: { content: 'x' } }] }, 'messages.0.type'],
    ['a task without a kind', { ...validCall, task: { source: 'x' } }, 'task.kind'],
    ['garbage', { nonsense: true }, 'spec'],
  ])('rejects %s with QUEUE_PAYLOAD_INVALID naming the field', (_what, payload, field) => {
    const error = thrownBy(() => checkModelCallJob(payload));
    expect(error.code).toBe('QUEUE_PAYLOAD_INVALID');
    expect(error.message).toMatch(/^malformed model call: /);
    expect(error.message).toContain(field);
    expect(error.fix.length).toBeGreaterThan(0);
  });

  it(`rejects a call over MAX_PAYLOAD_BYTES (${MAX_PAYLOAD_BYTES}), saying how large it is`, () => {
    const huge = { spec: 'extractive', messages: [{ type: 'human', data: { content: 'x'.repeat(MAX_PAYLOAD_BYTES) } }] };
    const error = thrownBy(() => checkModelCallJob(huge));
    expect(error.code).toBe('QUEUE_PAYLOAD_INVALID');
    const size = Buffer.byteLength(JSON.stringify(huge), 'utf8');
    expect(error.message).toBe(`model call payload of ${size} bytes exceeds the ${MAX_PAYLOAD_BYTES}-byte limit`);
    expect(error.fix).toMatch(/chunk-tokens/);
  });

  it('measures the limit in UTF-8 bytes, not characters', () => {
    // 1.5 M three-byte characters: well under the limit in characters, over it in bytes.
    const wide = { spec: 'extractive', messages: [{ type: 'human', data: { content: '鯨'.repeat(1_500_000) } }] };
    expect(JSON.stringify(wide).length).toBeLessThan(MAX_PAYLOAD_BYTES);
    expect(thrownBy(() => checkModelCallJob(wide)).message).toMatch(/exceeds the \d+-byte limit/);
    const fits = { spec: 'extractive', messages: [{ type: 'human', data: { content: 'x'.repeat(MAX_PAYLOAD_BYTES - 200) } }] };
    expect(checkModelCallJob(fits).messages).toHaveLength(1);
  });
});

describe('checkDocumentJob', () => {
  it('accepts a valid document job', () => {
    expect(checkDocumentJob(validDocument)).toEqual(validDocument);
    expect(checkDocumentJob({ ...validDocument, options: {} })).toEqual({ ...validDocument, options: {} });
  });

  it.each([
    ['a sha256 that is not 64 hex digits', { ...validDocument, documentSha256: 'abc' }, 'documentSha256'],
    ['an upper-case sha256', { ...validDocument, documentSha256: 'A'.repeat(64) }, 'documentSha256'],
    ['a pipeline name with odd characters', { ...validDocument, pipeline: 'Hierarchical Summary' }, 'pipeline'],
    ['a pipeline name starting with a dash', { ...validDocument, pipeline: '-x' }, 'pipeline'],
    ['a non-string option', { ...validDocument, options: { chunkTokens: 512 } }, 'options.chunkTokens'],
    ['an empty model', { ...validDocument, model: '' }, 'model'],
    ['a fractional context window', { ...validDocument, contextWindow: 1000.5 }, 'contextWindow'],
    ['a context window under 256', { ...validDocument, contextWindow: 100 }, 'contextWindow'],
    ['a document name over 1024 characters', { ...validDocument, documentName: 'n'.repeat(1025) }, 'documentName'],
    ['null', null, '(root)'],
  ])('rejects %s with QUEUE_PAYLOAD_INVALID naming the field', (_what, payload, field) => {
    const error = thrownBy(() => checkDocumentJob(payload));
    expect(error.code).toBe('QUEUE_PAYLOAD_INVALID');
    expect(error.message).toMatch(/^malformed document job: /);
    expect(error.message).toContain(field);
  });

  it('rejects a document job over MAX_PAYLOAD_BYTES', () => {
    const options = Object.fromEntries(Array.from({ length: 50 }, (_, index) => [`option${index}`, 'x'.repeat(100_000)]));
    const error = thrownBy(() => checkDocumentJob({ ...validDocument, options }));
    expect(error.code).toBe('QUEUE_PAYLOAD_INVALID');
    expect(error.message).toMatch(/^document job payload of \d+ bytes exceeds the 4194304-byte limit$/);
  });
});

describe('redact', () => {
  it.each([
    ['redis://user:s3cret@127.0.0.1:6379', 'redis://user:***@127.0.0.1:6379'],
    ['redis://:s3cret@127.0.0.1:6379/2', 'redis://:***@127.0.0.1:6379/2'],
    ['rediss://default:s3cret%40x@cache.example.com:6380', 'rediss://default:***@cache.example.com:6380'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['redis://user@127.0.0.1:6379', 'redis://user@127.0.0.1:6379'],
  ])('%s → %s', (url, expected) => {
    expect(redact(url)).toBe(expected);
    expect(redact(url)).not.toContain('s3cret');
  });

  it('hides a password with a raw "@" in it (URL parsing takes the last "@" as the end of the password)', () => {
    const url = 'redis://user:s3c@ret@127.0.0.1:6379';
    expect(new URL(url).password).toBe('s3c%40ret');
    expect(redact(url)).not.toContain('ret');
    expect(redact(url)).toBe('redis://user:***@127.0.0.1:6379');
  });
});

describe('resolveConnection', () => {
  const clients: { disconnect(): void }[] = [];
  const savedPassword = process.env.TOME_REDIS_PASSWORD;
  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
    if (savedPassword === undefined) delete process.env.TOME_REDIS_PASSWORD;
    else process.env.TOME_REDIS_PASSWORD = savedPassword;
  });

  /** The options the connection's clients are made with; the client is disconnected before it gets anywhere. */
  function clientOptions(url: string) {
    const client = resolveConnection({ url }).connect();
    client.on('error', () => {});
    clients.push(client);
    client.disconnect();
    return client.options;
  }

  it.each(['http://127.0.0.1:6379', 'not a url', '127.0.0.1:6379', 'file:///tmp/redis.sock'])('rejects %s with INVALID_OPTION', (url) => {
    const error = thrownBy(() => resolveConnection({ url }));
    expect(error.code).toBe('INVALID_OPTION');
    expect(error.message).toContain('--queue');
  });

  it('never echoes a password in its rejection', () => {
    const error = thrownBy(() => resolveConnection({ url: 'http://user:s3cret@127.0.0.1:6379' }));
    expect(error.message).not.toContain('s3cret');
  });

  it('maps rediss:// to TLS and redis:// to plain TCP', () => {
    expect(clientOptions('rediss://cache.example.com:6380').tls).toEqual({});
    expect(clientOptions('redis://127.0.0.1:6379').tls).toBeUndefined();
  });

  it('takes host, port, user, password and db from the URL, and the redacted URL and prefix', () => {
    const options = clientOptions('redis://alice:p%40ss@10.1.2.3:7000/3');
    expect(options).toMatchObject({ host: '10.1.2.3', port: 7000, username: 'alice', password: 'p@ss', db: 3, maxRetriesPerRequest: null });
    expect(clientOptions('redis://127.0.0.1').port).toBe(6379);
    const resolved = resolveConnection({ url: 'redis://alice:s3cret@10.1.2.3:7000' });
    expect(resolved.redactedUrl).toBe('redis://alice:***@10.1.2.3:7000');
    expect(resolved.prefix).toBe(DEFAULT_QUEUE_PREFIX);
    expect(resolveConnection({ url: 'redis://127.0.0.1', prefix: 'mine' }).prefix).toBe('mine');
  });

  it('takes the password from TOME_REDIS_PASSWORD when the URL has none', () => {
    process.env.TOME_REDIS_PASSWORD = 'from-env';
    expect(clientOptions('redis://127.0.0.1:6379').password).toBe('from-env');
    expect(clientOptions('redis://:in-url@127.0.0.1:6379').password).toBe('in-url');
  });
});

describe('queue names', () => {
  it('are stable, readable and distinct per spec', () => {
    const specs = ['extractive', 'slow:30', 'slow:300', 'openai:gpt-4o-mini', 'OpenAI:GPT-4o-mini', 'ollama:llama3.1', 'ollama:llama3-1', `onnx:/models/${'x'.repeat(100)}`];
    const names = specs.map(modelCallQueue);
    expect(specs.map(modelCallQueue)).toEqual(names);
    expect(new Set(names).size).toBe(specs.length);
    expect(names).not.toContain(DOCUMENT_QUEUE);
    for (const name of names) {
      expect(name).toMatch(/^calls-[a-z0-9-]{1,40}-[0-9a-f]{8}$/);
      expect(name.length).toBeLessThanOrEqual(55);
    }
    expect(modelCallQueue('extractive')).toBe(`calls-extractive-${names[0]!.slice(-8)}`);
    // Pinned: a rename would strand jobs queued by an older producer.
    expect(modelCallQueue('extractive')).toMatchInlineSnapshot(`"calls-extractive-d01ac8ee"`);
  });
});
