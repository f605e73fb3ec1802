// Entry of the benchmark thread when tome runs from its TypeScript sources (tests, `tsx`): worker threads do not
// inherit the tsx loader, so register it here, then load the real entry. Built installs use
// dist/inference/benchmark-worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./benchmark-worker.ts');
