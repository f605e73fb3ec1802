import type { ModelHandle } from '../../src/models/model-handle.js';
import { definedOnly } from '../../src/options.js';
import type { MemoryItem } from '../../src/memory/memory-item.js';
import type { MemoryStream, RetrievedMemory } from '../../src/memory/memory-stream.js';
import { callModel, type AgentRuntime } from '../model-call.js';
import { needsMemoryPrompt, summarySufficesPrompt } from './prompts.js';

/** Options of the SCM controller, with the defaults of the paper and its released code. */
export interface MemoryControllerOptions {
  /** Memories activated from the archive per input (the paper: 3–10). Default 5. */
  k?: number;
  /** Most tokens the activated memories may take in the prompt (the paper: 2,000–2,500). Default 2,000. */
  memoryBudgetTokens?: number;
  /** A memory longer than this is a candidate for its summary when over budget (the paper: 800). Default 800. */
  longMemoryTokens?: number;
  /** The previous turn goes in raw when shorter than this, else as its summary (the paper: 500). Default 500. */
  flashRawTokens?: number;
  /** Activated memories less similar than this to the input (cosine) are dropped as useless. Default 0. */
  minRelevance?: number;
  /**
   * Activated memories less relevant than this share of the best one's relevance are dropped as useless. Relative,
   * so it works whatever the embeddings' cosine scale (hashed features: noise ≈ 0.05; dense models: unrelated ≈ 0.7).
   * Default 0.5.
   */
  relativeRelevance?: number;
  /** Weight of the recency term in retrieval (see MemoryStream.retrieve). Default 0.1. */
  recencyWeight?: number;
}

export const MEMORY_CONTROLLER_DEFAULTS: Required<MemoryControllerOptions> = {
  k: 5,
  memoryBudgetTokens: 2000,
  longMemoryTokens: 800,
  flashRawTokens: 500,
  minRelevance: 0,
  relativeRelevance: 0.5,
  recencyWeight: 0.1,
};

export type MemoryForm = 'full' | 'summary';

/** One controller decision, kept so users can see why the prompt holds what it holds. */
export interface MemoryDecision {
  readonly index: number;
  readonly action: MemoryForm | 'drop';
  readonly reason: string;
  readonly relevance: number;
}

export interface ActivatedMemory {
  readonly item: MemoryItem;
  readonly form: MemoryForm;
  /** What goes into the prompt: the item's full text (with its response, for a turn) or its summary. */
  readonly content: string;
  readonly tokens: number;
}

export interface ControllerOutcome {
  readonly needsMemory: boolean;
  /** The previous turn, always given (raw or summarized), or undefined when there is none. */
  readonly flash: ActivatedMemory | undefined;
  /** Memories for the prompt, in chronological order. */
  readonly activated: readonly ActivatedMemory[];
  readonly decisions: readonly MemoryDecision[];
}

/**
 * The Self-Controlled Memory controller (Wang et al.): decides whether an input needs memory, which archived
 * memories to activate, and in how much detail each goes into the prompt under a token budget.
 *
 *   input ─▶ needs memory? ─no──────────────────────────────▶ flash only
 *              │yes
 *              ▼
 *   retrieve top-k (relevance + recency, previous turn excluded) ─▶ drop useless (relevance < ½ the best)
 *              ▼ over budget?
 *   long memories: "does the summary suffice?" yes ─▶ summary ─▶ still over: summaries from the lowest-ranked up
 *              ▼ still over: drop from the lowest-ranked up ─▶ chronological order
 */
export class MemoryController {
  readonly options: Required<MemoryControllerOptions>;

  constructor(
    readonly model: ModelHandle,
    options: MemoryControllerOptions = {},
  ) {
    this.options = { ...MEMORY_CONTROLLER_DEFAULTS, ...definedOnly(options) };
  }

  async decide(input: string, stream: MemoryStream, runtime: AgentRuntime = {}, previousTurn?: MemoryItem): Promise<ControllerOutcome> {
    const flash = previousTurn ? this.flashMemory(previousTurn) : undefined;
    const needsMemory = await this.askNeedsMemory(input, runtime);
    if (!needsMemory || stream.size === 0) return { needsMemory, flash, activated: [], decisions: [] };

    const retrieved = await stream.retrieve(input, { k: this.options.k, exclude: previousTurn ? [previousTurn.index] : [], recencyWeight: this.options.recencyWeight });
    const decisions: MemoryDecision[] = [];
    const kept: (RetrievedMemory & { form: MemoryForm })[] = [];
    const best = Math.max(0, ...retrieved.map((memory) => memory.relevance));
    const threshold = Math.max(this.options.minRelevance, this.options.relativeRelevance * best);
    for (const memory of retrieved) {
      if (memory.relevance < threshold) decisions.push(decision(memory, 'drop', `relevance ${memory.relevance.toFixed(3)} below ${threshold.toFixed(3)}`));
      else kept.push({ ...memory, form: 'full' });
    }
    const budget = this.options.memoryBudgetTokens;
    const total = () => kept.reduce((sum, memory) => sum + this.tokens(memory.item, memory.form), 0);

    if (total() > budget) {
      for (const memory of kept) {
        if (this.tokens(memory.item, 'full') <= this.options.longMemoryTokens) continue;
        if (await this.askSummarySuffices(input, memory.item, runtime)) {
          memory.form = 'summary';
          decisions.push(decision(memory, 'summary', 'the controller judged its summary enough for this input'));
        }
      }
    }
    // Still over budget: summaries from the lowest-ranked up, then drops from the lowest-ranked up.
    for (let position = kept.length - 1; position >= 0 && total() > budget; position--) {
      const memory = kept[position]!;
      if (memory.form === 'full') {
        memory.form = 'summary';
        decisions.push(decision(memory, 'summary', 'over the memory budget'));
      }
    }
    while (kept.length > 0 && total() > budget) {
      const dropped = kept.pop()!;
      decisions.push(decision(dropped, 'drop', 'over the memory budget even as a summary'));
    }
    for (const memory of kept) {
      if (!decisions.some((entry) => entry.index === memory.item.index)) decisions.push(decision(memory, 'full', 'fits the budget'));
    }
    const activated = kept
      .map((memory) => this.activate(memory.item, memory.form))
      .sort((a, b) => a.item.index - b.item.index);
    return { needsMemory, flash, activated, decisions };
  }

  /** The full content of an item as it would enter a prompt. */
  fullContent(item: MemoryItem): string {
    return item.response === undefined ? item.text : `User: ${item.text}\nAssistant: ${item.response}`;
  }

  private flashMemory(item: MemoryItem): ActivatedMemory {
    const form: MemoryForm = this.tokens(item, 'full') < this.options.flashRawTokens ? 'full' : 'summary';
    return this.activate(item, form);
  }

  private activate(item: MemoryItem, form: MemoryForm): ActivatedMemory {
    const content = form === 'full' ? this.fullContent(item) : item.summary;
    return { item, form, content, tokens: this.model.tokenCounter.count(content) };
  }

  private tokens(item: MemoryItem, form: MemoryForm): number {
    return this.model.tokenCounter.count(form === 'full' ? this.fullContent(item) : item.summary);
  }

  private async askNeedsMemory(input: string, runtime: AgentRuntime): Promise<boolean> {
    const reply = await callModel(
      this.model,
      { step: 'scm/needs-memory', messages: await needsMemoryPrompt.formatMessages({ input }), task: { kind: 'needs-memory', input, wordLimit: 1 }, reservedOutputTokens: 8 },
      runtime,
    );
    return parseYesNo(reply.text, true);
  }

  private async askSummarySuffices(input: string, item: MemoryItem, runtime: AgentRuntime): Promise<boolean> {
    const reply = await callModel(
      this.model,
      {
        step: `scm/summary-suffices/${item.index}`,
        messages: await summarySufficesPrompt.formatMessages({ input, summary: item.summary }),
        task: { kind: 'summary-suffices', query: input, summary: item.summary, full: this.fullContent(item), wordLimit: 1 },
        reservedOutputTokens: 8,
      },
      runtime,
    );
    return parseYesNo(reply.text, false);
  }
}

/** First yes/no word of a reply; `fallback` when there is none (models sometimes explain instead). */
export function parseYesNo(reply: string, fallback: boolean): boolean {
  const match = /\b(yes|no)\b/i.exec(reply);
  return match ? match[1]!.toLowerCase() === 'yes' : fallback;
}

function decision(memory: RetrievedMemory, action: MemoryDecision['action'], reason: string): MemoryDecision {
  return { index: memory.item.index, action, reason, relevance: memory.relevance };
}
