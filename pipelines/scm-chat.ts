import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { ScmAgent, type ScmAgentOptions, type ScmReply } from '../agents/scm/scm-agent.js';
import type { AgentRuntime } from '../agents/model-call.js';
import type { TomeDocument } from '../src/documents.js';
import { HashedEmbeddings } from '../src/embeddings/hashed-embeddings.js';
import { InProcessExecutor } from '../src/executor/in-process-executor.js';
import { LogMemoryStore } from '../src/memory/log-memory-store.js';
import type { MemoryItem } from '../src/memory/memory-item.js';
import { MemoryStream } from '../src/memory/memory-stream.js';
import type { ModelHandle } from '../src/models/model-handle.js';
import { segmentText } from '../src/segmentation.js';

export interface ScmChatOptions extends ScmAgentOptions {
  readonly model: ModelHandle;
  /** Folder of this session's memory (stream, index, list of read documents). Created when missing. */
  readonly directory: string;
  /** Default: tome's offline {@link HashedEmbeddings}. */
  readonly embeddings?: EmbeddingsInterface;
}

/**
 * A conversation with Self-Controlled Memory whose memory survives restarts: every turn is appended (fsync'd) to
 * the session's memory stream, documents read into the session become memory items too, and reopening the session
 * continues where it left off — the previous turn becomes flash memory again.
 */
export class ScmChatSession {
  private constructor(
    readonly agent: ScmAgent,
    readonly stream: MemoryStream,
    private readonly directory: string,
  ) {}

  static async open(options: ScmChatOptions): Promise<ScmChatSession> {
    await mkdir(options.directory, { recursive: true });
    const store = await LogMemoryStore.open(options.directory);
    const stream = await MemoryStream.open({ store, embeddings: options.embeddings ?? new HashedEmbeddings(), indexPath: join(options.directory, 'index.hnsw') });
    return new ScmChatSession(new ScmAgent(options.model, options), stream, options.directory);
  }

  /** The most recent conversation turn, if any: the flash memory of the next reply. */
  get previousTurn(): MemoryItem | undefined {
    const items = this.stream.items();
    for (let index = items.length - 1; index >= 0; index--) if (items[index]!.kind === 'turn') return items[index];
    return undefined;
  }

  /** Read a document into memory (once per document: a second call with the same text adds nothing). Returns items added. */
  async read(document: TomeDocument, options: { segmentTokens?: number; concurrency?: number; runtime?: AgentRuntime } = {}): Promise<number> {
    const readList = join(this.directory, 'documents.json');
    const read: string[] = existsSync(readList) ? (JSON.parse(readFileSync(readList, 'utf8')) as string[]) : [];
    if (read.includes(document.sha256)) return 0;
    const segments = segmentText(document.text, { maxTokens: options.segmentTokens ?? 512, counter: this.agent.model.tokenCounter });
    const summaries = await new InProcessExecutor({ concurrency: options.concurrency ?? 4 }).map(
      { name: 'read', run: (text: string) => this.agent.summarize(text, 'read', options.runtime) },
      segments.map((piece) => piece.text),
      { signal: options.runtime?.signal },
    );
    for (const [position, piece] of segments.entries()) {
      await this.stream.add({ kind: 'segment', text: piece.text, summary: summaries[position]!, source: { charStart: piece.start, charEnd: piece.end } });
    }
    writeFileSync(readList, JSON.stringify([...read, document.sha256]));
    return segments.length;
  }

  /** Answer one message and remember the turn. */
  async send(input: string, runtime: AgentRuntime = {}): Promise<ScmReply> {
    return this.agent.reply(input, this.stream, runtime, { remember: true, previousTurn: this.previousTurn });
  }

  async close(): Promise<void> {
    await this.stream.close();
  }
}
