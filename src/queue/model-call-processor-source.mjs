// Entry of the sandboxed model-call processor when tome runs from its TypeScript sources (tests, `tsx`): worker
// threads do not inherit the tsx loader, so register it here, then load the real processor. Built installs use
// dist/src/queue/model-call-processor.js directly.
import { register } from 'tsx/esm/api';

register();
const { default: processModelCall } = await import('./model-call-processor.ts');
export default processModelCall;
