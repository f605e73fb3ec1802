// Builds the native attention addon (inference/native/build/Release/tome_attention.node) with node-gyp.
// `--optional` (the install's prepare step): a failed build is reported and the install goes on; the engine then
// uses ONNX Runtime's Attention (LlamaModelOptions.attentionKernel 'auto').
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const optional = process.argv.includes('--optional');
const directory = dirname(fileURLToPath(import.meta.url));
// npm names its bundled node-gyp in scripts; outside npm, node-gyp must be on PATH.
const gyp = process.env.npm_config_node_gyp;
const [command, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const result = spawnSync(command, args, { cwd: directory, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (result.status === 0) {
  process.stdout.write('tome: built the native attention kernel (inference/native/build/Release/tome_attention.node)\n');
} else {
  const detail = result.error ? result.error.message : `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-15).join('\n');
  process.stderr.write(`tome: the native attention kernel did not build; the local engine will use ONNX Runtime's Attention instead.\n${detail}\n`);
  if (!optional) process.exit(1);
}
