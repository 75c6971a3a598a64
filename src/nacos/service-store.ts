/**
 * Services created explicitly through `POST /nacos/v1/ns/service` (protect threshold, metadata),
 * kept as one registry switch so they persist with the rest of the registry without a store
 * table of their own. Services that only exist through their instances need no entry here.
 */
import { serviceKey, type ServiceId } from '../registry/model.js';
import type { Registry } from '../registry/registry.js';

export const SERVICES_SWITCH = 'nacos.services';

export interface ServiceEntry extends ServiceId {
  readonly protectThreshold: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly selector: Readonly<Record<string, unknown>>;
}

export interface ServiceStore {
  get(id: ServiceId): ServiceEntry | undefined;
  put(entry: ServiceEntry): void;
  remove(id: ServiceId): boolean;
  list(namespace: string): ServiceEntry[];
}

export function createServiceStore(registry: Registry): ServiceStore {
  const all = (): Record<string, ServiceEntry> => {
    const v = registry.getSwitch(SERVICES_SWITCH);
    return v !== null && typeof v === 'object' ? (v as Record<string, ServiceEntry>) : {};
  };
  return {
    get: (id) => all()[serviceKey(id)],
    put(entry) {
      registry.setSwitch(SERVICES_SWITCH, { ...all(), [serviceKey(entry)]: entry });
    },
    remove(id) {
      const { [serviceKey(id)]: gone, ...rest } = all();
      if (!gone) return false;
      registry.setSwitch(SERVICES_SWITCH, rest);
      return true;
    },
    list: (namespace) => Object.values(all()).filter((e) => e.namespace === namespace),
  };
}
