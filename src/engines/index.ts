// Engines: where events are ordered, stored and carried between nodes.
// Re-exported by the `herald` entry point (src/index.ts).
export {
  checkRetentionClasses,
  DEFAULT_RETENTION_CLASS,
  EARLIEST,
  type Engine,
  type EngineEvent,
  type EngineEventInput,
  type EngineGap,
  type EngineGapListener,
  type EngineHealth,
  type EngineListener,
  EngineListeners,
  type EngineStats,
  HeraldEngineError,
  type HeraldEngineErrorCode,
  type HistoryQuery,
  type HistoryResult,
  type LatestQuery,
  type LatestResult,
  type RetentionClass,
  retentionClassOf,
} from './engine.js';
export {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_EVENTS,
  type MemoryEngine,
  type MemoryEngineOptions,
  memoryEngine,
} from './memory.js';
