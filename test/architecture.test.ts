import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The folder names are the architecture: dependencies point one way (inference ← src ← agents ← pipelines, with
 * the CLI as the composition root), and no module imports itself back through a cycle.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LAYERS = ['src', 'agents', 'pipelines', 'inference', 'eval'];

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((match) => match[1]!);
  return specifiers.filter((specifier) => specifier.startsWith('.')).map((specifier) => relative(ROOT, resolve(dirname(file), specifier.replace(/\.js$/, '.ts'))));
}

const graph = new Map<string, string[]>();
for (const file of [join(ROOT, 'index.ts'), ...LAYERS.flatMap((layer) => sourceFiles(join(ROOT, layer)))]) graph.set(relative(ROOT, file), relativeImports(file));

const layerOf = (path: string) => path.split('/')[0]!;

describe('architecture', () => {
  it('every relative import resolves to a module in the tree', () => {
    for (const [file, imports] of graph) for (const target of imports) expect(graph.has(target), `${file} → ${target}`).toBe(true);
  });

  it('inference knows nothing of agents or pipelines', () => {
    for (const [file, imports] of graph) {
      if (layerOf(file) !== 'inference') continue;
      for (const target of imports) expect(['agents', 'pipelines'], `${file} → ${target}`).not.toContain(layerOf(target));
    }
  });

  it('agents use src only; pipelines compose agents; core src never reaches up (the CLI is the composition root)', () => {
    for (const [file, imports] of graph) {
      for (const target of imports) {
        const from = layerOf(file);
        const to = layerOf(target);
        if (from === 'agents') expect(['agents', 'src'], `${file} → ${target}`).toContain(to);
        if (from === 'src' && !file.startsWith('src/cli/')) expect(['src'], `${file} → ${target}`).toContain(to);
        if (from === 'pipelines') expect(['pipelines', 'agents', 'src'], `${file} → ${target}`).toContain(to);
        // eval measures methods: it may use pipelines, agents and core, never the inference runtime directly.
        if (from === 'eval') expect(['eval', 'pipelines', 'agents', 'src'], `${file} → ${target}`).toContain(to);
        // Only the CLI (composition root) and the package index import eval.
        if (to === 'eval') expect(from === 'eval' || file === 'index.ts' || file.startsWith('src/cli/'), `${file} → ${target}`).toBe(true);
      }
    }
  });

  it('has no circular imports', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (node: string, path: string[]) => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(node)), node].join(' → '));
        return;
      }
      state.set(node, 'visiting');
      for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
      state.set(node, 'done');
    };
    for (const node of graph.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });
});
