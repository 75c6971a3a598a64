/**
 * The beat module's run-time switches (Nacos `operator/switches`), stored as registry switches so
 * they survive a restart. A switch that was never set falls back to the configuration.
 */
import type { Registry } from '../registry/registry.js';
import type { BeatConfig } from './config.js';

export const BEAT_SWITCHES = {
  clientBeatIntervalMs: 'beat.clientBeatIntervalMs',
  lightBeatEnabled: 'beat.lightBeatEnabled',
  expireInstance: 'beat.expireInstance',
  selfPreservation: 'beat.selfPreservation',
} as const;

export interface BeatSettings {
  readonly clientBeatIntervalMs: number;
  readonly lightBeatEnabled: boolean;
  readonly expireInstance: boolean;
  readonly selfPreservation: boolean;
}

export function readSettings(registry: Registry, config: BeatConfig): BeatSettings {
  const num = (name: string, dflt: number): number => {
    const v = registry.getSwitch(name);
    return typeof v === 'number' && v > 0 ? v : dflt;
  };
  const bool = (name: string, dflt: boolean): boolean => {
    const v = registry.getSwitch(name);
    return typeof v === 'boolean' ? v : dflt;
  };
  return {
    clientBeatIntervalMs: num(BEAT_SWITCHES.clientBeatIntervalMs, config.clientBeatIntervalMs),
    lightBeatEnabled: bool(BEAT_SWITCHES.lightBeatEnabled, config.lightBeatEnabled),
    expireInstance: bool(BEAT_SWITCHES.expireInstance, config.expireInstance),
    selfPreservation: bool(BEAT_SWITCHES.selfPreservation, config.selfPreservation.enabled),
  };
}
