import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { documentFromText, loadDocument, normalizeText, sha256 } from '../src/documents.js';
import { TomeError, type TomeErrorCode } from '../src/errors.js';

let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'tome-'));
});
afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

/** Write `content` to a file in this test's temp dir and return its path. */
function writeInput(name: string, content: string | Uint8Array): string {
  const path = join(directory, name);
  writeFileSync(path, content);
  return path;
}

/** `loadDocument(path)` must reject with a TomeError of `code` that names the path and says how to fix it. */
async function expectInputError(path: string, code: TomeErrorCode): Promise<void> {
  const error = await loadDocument(path).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error, `loadDocument(${path}) should reject`).toBeDefined();
  expect(TomeError.is(error)).toBe(true);
  const tomeError = error as TomeError;
  expect(tomeError.code).toBe(code);
  expect(tomeError.message).toContain(path);
  expect(tomeError.fix.trim().length).toBeGreaterThan(0);
}

const BOM = '\uFEFF';
const SHA256_OF_HELLO = '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

describe('normalizeText and documentFromText', () => {
  it('strips a leading BOM, and only a leading one', () => {
    expect(normalizeText(`${BOM}hello`)).toBe('hello');
    expect(normalizeText(`a${BOM}b`)).toBe(`a${BOM}b`);
  });

  it('turns CRLF and lone CR into LF', () => {
    expect(normalizeText('one\r\ntwo\rthree\nfour\r\n\r\nfive\r')).toBe('one\ntwo\nthree\nfour\n\nfive\n');
    expect(normalizeText('a\r\rb')).toBe('a\n\nb');
    expect(normalizeText('a\n\rb')).toBe('a\n\nb');
  });

  it('builds a document with a stable sha256 of the normalized text', () => {
    const document = documentFromText('hello');
    expect(document).toEqual({ name: 'text', text: 'hello', sha256: SHA256_OF_HELLO });
    expect(document.path).toBeUndefined();
    expect(sha256('hello')).toBe(SHA256_OF_HELLO);
    expect(documentFromText('hello').sha256).toBe(document.sha256);
    expect(documentFromText('hello!').sha256).not.toBe(document.sha256);
  });

  it('normalizes before hashing, so line-end and BOM variants are the same document', () => {
    const unix = documentFromText('line one\nline two\n', 'unix.txt');
    const windows = documentFromText(`${BOM}line one\r\nline two\r\n`, 'windows.txt');
    const oldMac = documentFromText('line one\rline two\r');
    expect(windows.text).toBe(unix.text);
    expect(windows.sha256).toBe(unix.sha256);
    expect(oldMac.sha256).toBe(unix.sha256);
    expect(windows.name).toBe('windows.txt');
  });
});

describe('loadDocument', () => {
  it('reads a UTF-8 file, named by its base name, normalized', async () => {
    const path = writeInput('moby.txt', `${BOM}Call me Ishmael.\r\nSome years ago\rnever mind — how long.\n`);
    const document = await loadDocument(path);
    expect(document.name).toBe('moby.txt');
    expect(document.path).toBe(path);
    expect(document.text).toBe('Call me Ishmael.\nSome years ago\nnever mind — how long.\n');
    expect(document.sha256).toBe(sha256(document.text));
    expect(document.sha256).toBe(documentFromText('Call me Ishmael.\nSome years ago\nnever mind — how long.\n').sha256);
  });

  it('gives the same sha256 for the same text on every load', async () => {
    const path = writeInput('same.txt', 'hello');
    const first = await loadDocument(path);
    const second = await loadDocument(path);
    expect(first.sha256).toBe(SHA256_OF_HELLO);
    expect(second.sha256).toBe(first.sha256);
  });

  it('keeps non-ASCII text intact', async () => {
    const text = 'café 日本語 🐋 Привет\n';
    const document = await loadDocument(writeInput('unicode.txt', text));
    expect(document.text).toBe(text);
  });

  describe('typed errors', () => {
    it('INPUT_NOT_FOUND for a missing path', async () => {
      await expectInputError(join(directory, 'missing.txt'), 'INPUT_NOT_FOUND');
    });

    it('INPUT_NOT_FOUND for a path through a file', async () => {
      const file = writeInput('file.txt', 'text');
      await expectInputError(join(file, 'inside.txt'), 'INPUT_NOT_FOUND');
    });

    it('INPUT_IS_DIRECTORY for a directory', async () => {
      const path = join(directory, 'folder');
      mkdirSync(path);
      await expectInputError(path, 'INPUT_IS_DIRECTORY');
    });

    it('INPUT_EMPTY for an empty file', async () => {
      await expectInputError(writeInput('empty.txt', ''), 'INPUT_EMPTY');
    });

    it('INPUT_EMPTY for a whitespace-only file', async () => {
      await expectInputError(writeInput('blank.txt', '  \n\t \r\n\r   \n'), 'INPUT_EMPTY');
    });

    it('INPUT_EMPTY for a file holding only a BOM', async () => {
      await expectInputError(writeInput('bom.txt', BOM), 'INPUT_EMPTY');
    });

    it('INPUT_BINARY for a file with NUL bytes', async () => {
      const bytes = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from([0x00, 0x01, 0x02, 0xff, 0x00]), Buffer.from('more')]);
      await expectInputError(writeInput('report.pdf', bytes), 'INPUT_BINARY');
    });

    it('INPUT_UNREADABLE for invalid UTF-8 without NUL bytes', async () => {
      // Latin-1 "café" (0xE9 alone is not UTF-8) and a stray continuation byte.
      const bytes = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a, 0x80, 0x41]);
      expect(bytes.includes(0)).toBe(false);
      await expectInputError(writeInput('latin1.txt', bytes), 'INPUT_UNREADABLE');
    });
  });
});
