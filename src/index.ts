/** The public entry for plugin authors and embedders: `import { defineChecker, z } from 'vigil'`. */
export { z } from 'zod';
export { defineChecker, isChecker } from './health/contract.js';
export type {
  Checker,
  CheckerDefinition,
  CheckContext,
  CheckOutcome,
  Fact,
  OptionsSchema,
  ProbeResult,
  ResourceCache,
  Target,
  Verdict,
} from './health/contract.js';
export { classifyError } from './health/classify.js';
export { targetKey } from './health/resources.js';
export { regexSource, textMatcher, type TextMatcher } from './health/option-schemas.js';
export { ErrorCodes, VigilError, isVigilError, type ErrorCode } from './errors.js';
