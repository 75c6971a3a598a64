/**
 * `PUT cluster`: the checker of one cluster, as Nacos sends it (`healthChecker` JSON, `checkPort`,
 * `useInstancePort4Check`). The config is stored for the cluster scope, so the scheduler resolves
 * it for every persistent instance of the cluster that has no checker of its own.
 *
 * `NONE` means "no active check; health is set by hand (`PUT health/instance`)". vigil expresses it
 * as a whitelist entry for the cluster (id `nacos-none:<scope>`): the scheduler then leaves those
 * instances' health alone, status pages show why, and any other type removes the entry again.
 */
import { WRITE } from '../../api/access.js';
import type { FastifyInstance } from 'fastify';
import { isVigilError } from '../../errors.js';
import { scopeKey, type CheckerScope } from '../../registry/model.js';
import { parseCheckerConfig } from '../../registry/validate.js';
import type { NacosContext } from '../context.js';
import { parseHealthChecker } from '../health-checker.js';
import { bool, healthChecker, name, port, SERVICE, serviceRef } from '../param-schemas.js';
import { invalid, readParams } from '../params.js';
import { ok } from './instance.js';

/** The switch holding Nacos's `healthCheckTimes`: rise/fall of checkers configured through Nacos. */
export const HEALTH_CHECK_TIMES_SWITCH = 'nacos.healthCheckTimes';

export function noneWhitelistId(scope: CheckerScope & { cluster: string }): string {
  return `nacos-none:${scopeKey(scope)}`;
}

const PARAMS = { ...SERVICE, clusterName: name, checkPort: port.optional(), useInstancePort4Check: bool.default(true), healthChecker };

export function registerClusterRoute(app: FastifyInstance, ctx: NacosContext, base: string): void {
  const { registry, checkers } = ctx;

  app.put(`${base}/cluster`, WRITE, async (req, reply) => {
    const v = readParams(req, PARAMS);
    const svc = serviceRef(v);
    const scope = { namespace: svc.namespace, group: svc.group, service: svc.service, cluster: v.clusterName };
    const { checkPort, useInstancePort4Check } = v;
    const mapped = parseHealthChecker(v.healthChecker, { useInstancePort4Check, ...(checkPort !== undefined ? { checkPort } : {}) });
    const noneId = noneWhitelistId(scope);

    if (mapped.kind === 'none') {
      registry.setCheckerConfig(scope, null);
      registry.putWhitelist({
        id: noneId,
        namespace: scope.namespace,
        service: `${scope.group}@@${scope.service}`,
        cluster: scope.cluster,
        reason: 'Nacos healthChecker NONE: no active check, health is set by hand',
        createdAt: ctx.now(),
      });
      await registry.committed();
      return ok(reply);
    }

    const times = registry.getSwitch(HEALTH_CHECK_TIMES_SWITCH);
    const input = typeof times === 'number' ? { rise: times, fall: times, ...mapped.input } : mapped.input;
    let config;
    try {
      config = parseCheckerConfig(checkers, input, ctx.policy, 'healthChecker');
    } catch (err) {
      if (isVigilError(err)) throw invalid('healthChecker', err.message);
      throw err;
    }
    registry.setCheckerConfig(scope, config);
    if (registry.whitelist().some((e) => e.id === noneId)) registry.removeWhitelist(noneId);
    await registry.committed();
    return ok(reply);
  });
}
