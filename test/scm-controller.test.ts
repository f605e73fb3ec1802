import { describe, expect, it } from 'vitest';
import { MemoryController, parseYesNo } from '../agents/scm/memory-controller.js';
import { ScmAgent } from '../agents/scm/scm-agent.js';
import { HashedEmbeddings } from '../src/embeddings/hashed-embeddings.js';
import { InMemoryMemoryStore } from '../src/memory/in-memory-memory-store.js';
import { MemoryStream } from '../src/memory/memory-stream.js';
import type { ModelTask } from '../src/tasks.js';
import { ScriptedChatModel, type ScriptedReply } from './helpers/scripted-chat-model.js';
import { handleFor } from './helpers/books.js';

const words = (word: string, count: number) => Array.from({ length: count }, () => word).join(' ');

/** A stream whose items are about distinct topics, so retrieval ranks are predictable. */
async function streamOf(items: { text: string; summary: string }[]): Promise<MemoryStream> {
  const stream = await MemoryStream.open({ store: new InMemoryMemoryStore(), embeddings: new HashedEmbeddings() });
  for (const item of items) await stream.add({ kind: 'segment', text: item.text, summary: item.summary });
  return stream;
}

function scripted(answers: { needsMemory?: string; summarySuffices?: (task: Extract<ModelTask, { kind: 'summary-suffices' }>) => string } = {}) {
  return new ScriptedChatModel((task): ScriptedReply => {
    if (task.kind === 'needs-memory') return answers.needsMemory ?? 'Yes.';
    if (task.kind === 'summary-suffices') return answers.summarySuffices?.(task) ?? 'no';
    return 'The answer.';
  });
}

describe('SCM controller', () => {
  it('answers "no memory needed" without retrieving anything', async () => {
    const stream = await streamOf([{ text: 'The whale is white.', summary: 'A white whale.' }]);
    const model = scripted({ needsMemory: 'No, this is small talk.' });
    const outcome = await new MemoryController(handleFor(model, 8192)).decide('Hello there!', stream);
    expect(outcome).toMatchObject({ needsMemory: false, activated: [], decisions: [] });
    expect(model.calls.map((call) => call.task.kind)).toEqual(['needs-memory']);
  });

  it('activates relevant memories in full when they fit, in chronological order, and drops irrelevant ones', async () => {
    const stream = await streamOf([
      { text: 'The harpoon was forged by the blacksmith Perth.', summary: 'Perth forges a harpoon.' },
      { text: 'Queequeg carved his coffin from ship timber.', summary: 'Queequeg carves a coffin.' },
      { text: 'The blacksmith Perth tempered the harpoon barbs in blood.', summary: 'Perth tempers the harpoon.' },
    ]);
    const model = scripted();
    const outcome = await new MemoryController(handleFor(model, 8192), { k: 3 }).decide('Who forged the harpoon, the blacksmith?', stream);
    expect(outcome.needsMemory).toBe(true);
    expect(outcome.activated.map((memory) => memory.item.index)).toEqual([0, 2]);
    expect(outcome.activated.every((memory) => memory.form === 'full')).toBe(true);
    expect(outcome.decisions.find((decision) => decision.index === 1)).toMatchObject({ action: 'drop' });
    // No budget pressure: the controller asked nothing about summaries.
    expect(model.calls.map((call) => call.task.kind)).toEqual(['needs-memory']);
  });

  it('over budget, uses the summary of a long memory when the model says it suffices', async () => {
    const stream = await streamOf([
      { text: `${words('harpoon', 900)}.`, summary: 'A long passage about the harpoon.' },
      { text: 'The harpoon had a hickory pole.', summary: 'Hickory harpoon pole.' },
    ]);
    const model = scripted({ summarySuffices: () => 'Yes' });
    const outcome = await new MemoryController(handleFor(model, 8192), { k: 2, memoryBudgetTokens: 300 }).decide('What about the harpoon?', stream);
    const long = outcome.activated.find((memory) => memory.item.index === 0)!;
    expect(long.form).toBe('summary');
    expect(long.content).toBe('A long passage about the harpoon.');
    expect(outcome.activated.find((memory) => memory.item.index === 1)!.form).toBe('full');
    // Only the memory over 800 tokens was asked about.
    const asked = model.callsOf('summary-suffices').map((call) => (call.task as { full: string }).full);
    expect(asked).toEqual([`${words('harpoon', 900)}.`]);
    expect(outcome.activated.reduce((sum, memory) => sum + memory.tokens, 0)).toBeLessThanOrEqual(300);
  });

  it('over budget when the full text is needed: summaries from the lowest-ranked up, then drops', async () => {
    const stream = await streamOf([
      { text: `${words('harpoon', 900)}.`, summary: `${words('harpoon', 200)}.` },
      { text: `Harpoon harpoon. ${words('iron', 400)}.`, summary: `${words('iron', 150)}.` },
      { text: `${words('harpoon', 600)} line.`, summary: `${words('line', 100)}.` },
    ]);
    const model = scripted({ summarySuffices: () => 'No, the details matter.' });
    const outcome = await new MemoryController(handleFor(model, 8192), { k: 3, memoryBudgetTokens: 700, relativeRelevance: 0 }).decide('Tell me about the harpoon', stream);
    const total = outcome.activated.reduce((sum, memory) => sum + memory.tokens, 0);
    expect(total).toBeLessThanOrEqual(700);
    const actions = new Map(outcome.decisions.map((decision) => [decision.index, decision.action]));
    // The top-ranked long memory was kept in full as long as possible; at least one memory was cut to its summary or dropped.
    expect([...actions.values()].some((action) => action === 'summary' || action === 'drop')).toBe(true);
    expect(outcome.activated.map((memory) => memory.item.index)).toEqual([...outcome.activated.map((memory) => memory.item.index)].sort((a, b) => a - b));
    for (const decision of outcome.decisions) expect(decision.reason.length).toBeGreaterThan(0);
  });

  it('gives the previous turn as flash memory (raw when short) and never retrieves it again', async () => {
    const stream = await MemoryStream.open({ store: new InMemoryMemoryStore(), embeddings: new HashedEmbeddings() });
    await stream.add({ kind: 'turn', text: 'Tell me about the harpoon.', response: 'It was forged by Perth.', summary: 'Harpoon forged by Perth.' });
    const previous = await stream.add({ kind: 'turn', text: 'And the harpoon barbs?', response: 'Tempered in blood.', summary: 'Barbs tempered.' });
    const outcome = await new MemoryController(handleFor(scripted(), 8192)).decide('What about the harpoon again?', stream, {}, previous);
    expect(outcome.flash).toMatchObject({ form: 'full', content: 'User: And the harpoon barbs?\nAssistant: Tempered in blood.' });
    expect(outcome.activated.map((memory) => memory.item.index)).toEqual([0]);
  });

  it('reads yes/no replies leniently', () => {
    expect(parseYesNo('Yes.', false)).toBe(true);
    expect(parseYesNo('no - not needed', true)).toBe(false);
    expect(parseYesNo('I think so', true)).toBe(true);
    expect(parseYesNo('I think so', false)).toBe(false);
  });
});

describe('SCM agent', () => {
  it('answers from the fused memory and remembers the turn', async () => {
    const stream = await streamOf([{ text: 'The Pequod sailed from Nantucket.', summary: 'The Pequod leaves Nantucket.' }]);
    const model = scripted();
    const reply = await new ScmAgent(handleFor(model, 8192)).reply('Where did the Pequod sail from?', stream, {}, { remember: true });
    expect(reply.answer).toBe('The answer.');
    expect(model.calls.map((call) => call.task.kind)).toEqual(['needs-memory', 'answer', 'summarize']);
    const answerCall = model.callsOf('answer')[0]!;
    expect(String(answerCall.messages.at(-1)!.content)).toContain('[memory 0]\nThe Pequod sailed from Nantucket.');
    expect(stream.size).toBe(2);
    expect(reply.stored).toMatchObject({ kind: 'turn', text: 'Where did the Pequod sail from?', response: 'The answer.' });
  });
});
