// The hub: topic selectors, fan-out, bounded history and gap-free replay over an engine; the
// Link header that tells clients where a hub is (discovery.ts).
// Re-exported by the `herald` entry point (src/index.ts).
export { discoveryLinkHeader } from './discovery.js';
export { HeraldHubError, type HeraldHubErrorCode } from './errors.js';
export { createHub, DEFAULT_MAX_EVENT_TOPICS, GAP_EVENT_TYPE, Hub } from './hub.js';
export {
  classConcerns,
  retentionClass,
  retentionClassName,
  selectorsMayOverlap,
  type TopicRetention,
} from './retention.js';
export {
  type CompiledSelector,
  type CompileSelectorOptions,
  compileSelector,
  HeraldTopicError,
  type HeraldTopicErrorCode,
  matchesAny,
  type SelectorCost,
  type SelectorKind,
  SelectorSet,
  selectorCacheStats,
  selectorCost,
  type TemplateCost,
  TopicIndex,
} from './topics.js';
export type {
  HubEventMap,
  HubOptions,
  HubStats,
  PublishInput,
  PublishResult,
  SubscribeOptions,
  SubscribeRefusal,
  Subscription,
} from './types.js';
