export { ChainWorker, MAX_CU_COMPRESSIONS, type WorkerStepRequest, type WorkerStepOutcome } from './worker.js';
export { ChainManager, type ManagerRequest } from './manager.js';
export { PathJudge, parseJudgeReply, JUDGE_REPLY_TOKENS, JUDGE_WORD_LIMIT, type JudgeRequest, type JudgeOutcome } from './judge.js';
export { assertPromptFits, streamModel } from './window.js';
export * as coaPrompts from './prompts.js';
export { COA_PROMPT_VERSION } from './prompts.js';
