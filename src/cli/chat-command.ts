import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { InvalidOptionError, TomeError } from '../errors.js';
import { loadDocument } from '../documents.js';
import { resolveModel } from '../models/model-spec.js';
import { ScmChatSession } from '../../pipelines/scm-chat.js';

export interface ChatCommandOptions {
  session: string;
  sessionsDir?: string;
  model: string;
  contextWindow?: number;
  k?: number;
  verbose?: boolean;
}

/**
 * `tome chat [file] --session NAME`: a conversation whose memory survives restarts. Reads lines from stdin (a
 * terminal or a pipe), answers each, and remembers every turn. A failed turn is reported and the session goes on.
 */
export async function chat(file: string | undefined, options: ChatCommandOptions): Promise<void> {
  if (!/^[\w.-]+$/.test(options.session)) throw new InvalidOptionError('--session', options.session, 'a name of letters, digits, ".", "_" or "-"');
  const directory = join(options.sessionsDir ?? join(homedir(), '.tome', 'sessions'), options.session);
  const model = await resolveModel(options.model, { contextWindow: options.contextWindow });
  const session = await ScmChatSession.open({ model, directory, k: options.k });
  const interactive = process.stdin.isTTY === true;
  try {
    if (file !== undefined) {
      const added = await session.read(await loadDocument(file));
      process.stderr.write(added > 0 ? `tome: read ${file} into memory (${added} items)\n` : `tome: ${file} is already in this session's memory\n`);
    }
    if (interactive) process.stderr.write(`tome chat: session "${options.session}" (${session.stream.size} memories, model ${model.spec}); Ctrl-D to leave\n`);
    const lines = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
    if (interactive) lines.setPrompt('you> ');
    if (interactive) lines.prompt();
    for await (const line of lines) {
      const input = line.trim();
      if (input !== '') await answer(session, input, options.verbose === true);
      if (interactive) lines.prompt();
    }
  } finally {
    await session.close();
  }
}

async function answer(session: ScmChatSession, input: string, verbose: boolean): Promise<void> {
  try {
    const reply = await session.send(input);
    process.stdout.write(`${reply.answer}\n`);
    if (verbose) {
      for (const decision of reply.control.decisions) process.stderr.write(`  memory ${decision.index}: ${decision.action} (${decision.reason})\n`);
    }
  } catch (error) {
    // One failed turn must not end a long conversation: report it and keep going.
    const message = TomeError.is(error) ? `${error.message}\n  fix: ${error.fix}` : error instanceof Error ? error.message : String(error);
    process.stderr.write(`tome: this turn failed: ${message}\n`);
  }
}
