import { FullAttentionPolicy, type AttentionPolicy, type PolicyDimensions } from '../attention-policy.js';
import type { AttentionSettings } from './attention-settings.js';
import { WindowedAttentionPolicy } from './windowed-policy.js';

/** The policy for resolved settings: full attention, or the windowed layout with its memory (none, blocks, kNN). */
export function createAttentionPolicy(settings: AttentionSettings, dims: PolicyDimensions): AttentionPolicy {
  return settings.mode === 'full' ? new FullAttentionPolicy() : new WindowedAttentionPolicy(settings, dims);
}
