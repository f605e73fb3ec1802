export * from './model-call.js';
export * from './summarizer/index.js';
export * from './coa/index.js';
export { ContextAnswerer } from './qa/context-answerer.js';
export { QA_PROMPT_VERSION } from './qa/prompts.js';
export { MemoryController, MEMORY_CONTROLLER_DEFAULTS, parseYesNo, type MemoryControllerOptions, type MemoryDecision, type ControllerOutcome, type ActivatedMemory, type MemoryForm } from './scm/memory-controller.js';
export { ScmAgent, fuseMemory, recalledText, type ScmAgentOptions, type ScmReply } from './scm/scm-agent.js';
export { SCM_PROMPT_VERSION } from './scm/prompts.js';
export * from './xl3m/index.js';
