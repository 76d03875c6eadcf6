// Device posture: signed assertions (or trusted edge headers) -> DeviceFacts for policy.
export { createPostureVerifier, PostureConfigError, type PostureVerifier, type PostureVerifierOptions, type PostureLogger, type PostureConfigProblem, type RequestHeaders } from './verifier.ts';
export { checkDeviceBinding, type BindingResult } from './binding.ts';
export { devicePostureSchema, ASYMMETRIC_ALGORITHMS, HEADER_CLAIMS, type DevicePostureConfig, type PostureAlgorithm, type HeaderClaim } from './config.ts';
export { RISK_LEVELS, type DeviceClaims, type DeviceFacts, type PostureFailureCode, type PostureUser, type RiskLevel } from './facts.ts';
export { MAX_TOKEN_BYTES } from './verify-jwt.ts';
