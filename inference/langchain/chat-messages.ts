import type { BaseMessage } from '@langchain/core/messages';
import { InvalidOptionError } from '../../src/errors.js';
import type { ChatMessage } from '../checkpoint/types.js';

/** Content part types that carry media: a text-only checkpoint cannot read them, so they fail loudly. */
const MEDIA_PART_TYPES = new Set(['image', 'image_url', 'input_image', 'audio', 'input_audio', 'video', 'file', 'document']);

/** ChatMessage roles by LangChain message type (`getType()`); generic ChatMessages go through {@link GENERIC_ROLES}. */
const ROLES_BY_TYPE: Readonly<Record<string, ChatMessage['role']>> = {
  system: 'system',
  developer: 'system',
  human: 'user',
  ai: 'assistant',
  tool: 'tool',
  // FunctionMessage is the deprecated predecessor of ToolMessage: a tool's result either way.
  function: 'tool',
};

/** Roles a generic LangChain `ChatMessage(content, role)` may name, in the spellings providers use. */
const GENERIC_ROLES: Readonly<Record<string, ChatMessage['role']>> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  human: 'user',
  assistant: 'assistant',
  ai: 'assistant',
  tool: 'tool',
  function: 'tool',
};

/**
 * LangChain messages → the checkpoint's chat-template messages. Content arrays are joined from their text parts
 * (no separator, as LangChain's own `message.text` does); a media part or any other non-text part is an
 * {@link InvalidOptionError}, because silently dropping it would change what the user asked.
 */
export function toChatMessages(messages: readonly BaseMessage[]): ChatMessage[] {
  return messages.map((message, index) => ({ role: roleOf(message, index), content: textOf(message, index) }));
}

function roleOf(message: BaseMessage, index: number): ChatMessage['role'] {
  const type = message.getType();
  if (type === 'generic') {
    const role = (message as BaseMessage & { role?: unknown }).role;
    const mapped = typeof role === 'string' ? GENERIC_ROLES[role.toLowerCase()] : undefined;
    if (mapped === undefined) throw new InvalidOptionError(`messages[${index}].role`, role, 'one of system, user, assistant, tool');
    return mapped;
  }
  const mapped = ROLES_BY_TYPE[type];
  if (mapped === undefined) throw new InvalidOptionError(`messages[${index}].type`, type, 'a system, human, ai or tool message');
  return mapped;
}

function textOf(message: BaseMessage, index: number): string {
  const content: unknown = message.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw new InvalidOptionError(`messages[${index}].content`, typeof content, 'a string or an array of text parts');
  return content
    .map((part: unknown, partIndex) => {
      if (typeof part === 'string') return part;
      const { type, text } = (part ?? {}) as { type?: unknown; text?: unknown };
      if (type === 'text' && typeof text === 'string') return text;
      const where = `messages[${index}].content[${partIndex}].type`;
      if (typeof type === 'string' && MEDIA_PART_TYPES.has(type)) throw new InvalidOptionError(where, type, 'a text part ("text"): this local engine reads text only, not images, audio or files');
      throw new InvalidOptionError(where, type, 'a text part ("text"): the local engine has no use for other parts');
    })
    .join('');
}
