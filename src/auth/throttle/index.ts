/** Brute-force protection for password checks: the counters and where they live, and the provider wrapper (its config section is config/schema/throttle.ts). */
export { normalizeAccount, normalizeAddress } from './client-keys.js';
export { LoginThrottle } from './login-throttle.js';
export type { LoginAttempt, LoginThrottleOptions } from './login-throttle.js';
export { CounterStoreUnavailable, type CounterStore } from './counters.js';
export { MemoryCounterStore } from './memory-store.js';
export { RedisCounterStore } from './redis-store.js';
export { SharedCounterStore, type VersionedRecords } from './shared-store.js';
export { ThrottledProvider } from './provider.js';
