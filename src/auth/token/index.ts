/** The Docker token service: scopes, signing keys, tokens, bearer-mode helpers, robot accounts. */
export { InvalidTokenError } from './types.js';
export type { ResourceScope, TokenAccess } from './types.js';
export { CATALOG, formatScope, formatScopeList, MAX_SCOPES, parseScope, parseScopeList, REPOSITORY } from './scope.js';
export { CERT_BUNDLE_FILE, JWKS_FILE, KEY_FILE, rotateSigningKey, SIGNING_ALGORITHMS, SigningKeys } from './keys.js';
export type { CurrentSigningKey, SigningAlgorithm, SigningKey, SigningKeysOptions } from './keys.js';
export {
  ACCESS_TOKEN_TYPE,
  DEFAULT_EXPIRES_IN_MS,
  DEFAULT_REFRESH_EXPIRES_IN_MS,
  MIN_EXPIRES_IN_MS,
  REFRESH_AUDIENCE_PREFIX,
  REFRESH_TOKEN_TYPE,
  TokenService,
} from './service.js';
export type { AccessTokenClaims, IssuedToken, RefreshTokenClaims, TokenServiceOptions } from './service.js';
export {
  bearerChallenge,
  CATALOG_SCOPE,
  createBearerAuthenticator,
  identityFromToken,
  parseBearerAuthorization,
  scopeForRequest,
} from './bearer.js';
export type { BearerAuthenticatorOptions, BearerChallengeOptions } from './bearer.js';
export { createRobot, parseRobotScope, readRobots, revokeRobot, ROBOT_PREFIX, RobotProvider, robotUserName } from './robots.js';
export type { CreateRobotOptions, RobotProviderOptions, RobotRecord } from './robots.js';
export { createRefreshIdentity, mayRefresh } from './refresh-subject.js';
export type { RefreshIdentity, RefreshSubject } from './refresh-subject.js';
