/** The IdP front doors under /v1/idp/<idp>/: one file per IdP, each mounted only when configured. */
import type { Router } from 'express';
import { azureB2cDoor } from './azure-b2c.js';
import type { DoorDeps } from './common.js';
import type { FrontDoorsConfig } from './config.js';
import { entraDoor } from './entra.js';
import { fusionauthDoor } from './fusionauth.js';
import { keycloakDoor } from './keycloak.js';
import { kratosDoor } from './kratos.js';
import { oktaDoor } from './okta.js';

export const IDP_MOUNT = '/v1/idp';

export interface MountedDoor {
  /** The config key (front_doors.<key>). */
  key: keyof FrontDoorsConfig;
  /** Full mount path: /v1/idp/<path>. */
  mount: string;
  router: Router;
}

type Factories = { [K in keyof FrontDoorsConfig]-?: { path: string; build: (cfg: NonNullable<FrontDoorsConfig[K]>, deps: DoorDeps) => Router } };

const DOORS: Factories = {
  okta: { path: 'okta', build: oktaDoor },
  kratos: { path: 'kratos', build: kratosDoor },
  keycloak: { path: 'keycloak', build: keycloakDoor },
  fusionauth: { path: 'fusionauth', build: fusionauthDoor },
  azure_b2c: { path: 'azure-b2c', build: azureB2cDoor },
  entra: { path: 'entra', build: entraDoor },
};

/** The configured doors, built. */
export function frontDoors(deps: DoorDeps): MountedDoor[] {
  const out: MountedDoor[] = [];
  for (const key of Object.keys(DOORS) as (keyof FrontDoorsConfig)[]) {
    const cfg = deps.config.front_doors[key];
    if (!cfg) continue;
    const d = DOORS[key] as { path: string; build: (c: unknown, deps: DoorDeps) => Router };
    out.push({ key, mount: `${IDP_MOUNT}/${d.path}`, router: d.build(cfg, deps) });
  }
  return out;
}
