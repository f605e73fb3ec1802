// The start of every engine worker thread when tome runs from its TypeScript sources (see thread-entry.ts): worker
// threads do not inherit the tsx loader, so register it, then load the thread's own module (the last argv).
import { pathToFileURL } from 'node:url';
import { register } from 'tsx/esm/api';

register();
await import(pathToFileURL(process.argv.at(-1)).href);
