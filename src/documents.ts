import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename } from 'node:path';
import { InputError } from './errors.js';

/** A long text and where it came from. Text is normalized: no BOM, `\n` line ends. */
export interface TomeDocument {
  /** Short name for logs and results (the file's base name, or what the caller chose). */
  readonly name: string;
  /** The file path, or `undefined` for text given in memory. */
  readonly path?: string;
  readonly text: string;
  /** sha256 of the normalized text: checkpoints use it to recognise the same input. */
  readonly sha256: string;
}

/** Strip a UTF-8 byte-order mark and turn CRLF / CR line ends into LF. */
export function normalizeText(text: string): string {
  const withoutBom = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return withoutBom.replace(/\r\n?/g, '\n');
}

/** Make a document from text already in memory. */
export function documentFromText(text: string, name = 'text'): TomeDocument {
  const normalized = normalizeText(text);
  return { name, text: normalized, sha256: sha256(normalized) };
}

/**
 * Read a UTF-8 text file as a document.
 * @throws InputError INPUT_NOT_FOUND, INPUT_IS_DIRECTORY, INPUT_EMPTY, INPUT_BINARY or INPUT_UNREADABLE.
 */
export async function loadDocument(path: string): Promise<TomeDocument> {
  const bytes = await readBytes(path);
  if (bytes.length === 0) {
    throw new InputError('INPUT_EMPTY', path, 'the file is empty', 'pass a file that contains text');
  }
  if (looksBinary(bytes)) {
    throw new InputError('INPUT_BINARY', path, 'the file is binary, not UTF-8 text', 'convert it to a UTF-8 .txt file first (e.g. pdftotext for PDFs)');
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new InputError('INPUT_UNREADABLE', path, 'the file is not valid UTF-8', 're-encode it as UTF-8 (e.g. iconv -t UTF-8)', cause);
  }
  const normalized = normalizeText(text);
  if (normalized.trim() === '') {
    throw new InputError('INPUT_EMPTY', path, 'the file holds only whitespace', 'pass a file that contains text');
  }
  return { name: basename(path), path, text: normalized, sha256: sha256(normalized) };
}

/**
 * stat() an input path with loadDocument's errors: missing (INPUT_NOT_FOUND), unreadable, or a directory
 * (INPUT_IS_DIRECTORY). Shared by whole-file loading and streaming.
 */
export async function statInputFile(path: string): Promise<Stats> {
  let info: Stats;
  try {
    info = await stat(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new InputError('INPUT_NOT_FOUND', path, 'no such file', 'check the path (it is resolved from the current directory)', cause);
    }
    throw new InputError('INPUT_UNREADABLE', path, `cannot read it (${code ?? 'unknown error'})`, 'check the file permissions', cause);
  }
  if (info.isDirectory()) {
    throw new InputError('INPUT_IS_DIRECTORY', path, 'is a directory, not a file', 'pass one text file inside it');
  }
  return info;
}

async function readBytes(path: string): Promise<Buffer> {
  await statInputFile(path);
  try {
    return await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new InputError('INPUT_UNREADABLE', path, `cannot read it (${code ?? 'unknown error'})`, 'check the file permissions', cause);
  }
}

/** A NUL byte in the first 8 KiB marks a binary file (the heuristic git and grep use). */
function looksBinary(bytes: Buffer): boolean {
  return bytes.subarray(0, 8192).includes(0);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
