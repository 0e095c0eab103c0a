/** Brute-force protection for password checks: the config section, the counters, and the provider wrapper. */
export { throttleConfigSchema } from './config.js';
export type { ThrottleConfig, ThrottleConfigInput } from './config.js';
export { normalizeAccount, normalizeAddress } from './client-keys.js';
export { LoginThrottle } from './login-throttle.js';
export type { LoginAttempt, LoginThrottleOptions } from './login-throttle.js';
export { ThrottledProvider } from './provider.js';
