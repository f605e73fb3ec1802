// Entry of the index thread when tome runs from its TypeScript sources (tests, `tsx`): worker threads do not
// inherit the tsx loader, so register it here, then load the real entry. Built installs use
// dist/inference/engine/attention/hnsw-thread-entry.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./hnsw-thread-entry.ts');
