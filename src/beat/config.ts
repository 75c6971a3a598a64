/** The `beat` section of the configuration, as the beat module sees it (schema in config/schema.ts). */
import type { Config } from '../config/schema.js';

export type BeatConfig = Config['beat'];
