/** The IdP front doors under /v1/idp/<idp>/: one file per IdP, each mounted only when configured. */
import type { ErrorRequestHandler, Router } from 'express';
import { azureB2cDoor, b2cErrors } from './azure-b2c.js';
import type { DoorDeps, FrontDoorDeps } from './common.js';
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
  /**
   * Mounted after the router (src/app.ts): translates what this door's IdP must see in its own error shape, the
   * door's own errors and those raised before the router (the request rate's 429). Absent: the API's error shape.
   */
  errors?: ErrorRequestHandler;
}

type Factories = {
  [K in keyof FrontDoorsConfig]-?: { path: string; build: (cfg: NonNullable<FrontDoorsConfig[K]>, deps: DoorDeps) => Router; errors?: ErrorRequestHandler };
};

const DOORS: Factories = {
  okta: { path: 'okta', build: oktaDoor },
  kratos: { path: 'kratos', build: kratosDoor },
  keycloak: { path: 'keycloak', build: keycloakDoor },
  fusionauth: { path: 'fusionauth', build: fusionauthDoor },
  azure_b2c: { path: 'azure-b2c', build: azureB2cDoor, errors: b2cErrors },
  entra: { path: 'entra', build: entraDoor },
};

/** The configured doors, built, each with the use cases as it runs them (audited as "door:<key>"). */
export function frontDoors(deps: FrontDoorDeps): MountedDoor[] {
  const out: MountedDoor[] = [];
  for (const key of Object.keys(DOORS) as (keyof FrontDoorsConfig)[]) {
    const cfg = deps.config.front_doors[key];
    if (!cfg) continue;
    const d = DOORS[key] as { path: string; build: (c: unknown, deps: DoorDeps) => Router; errors?: ErrorRequestHandler };
    out.push({ key, mount: `${IDP_MOUNT}/${d.path}`, router: d.build(cfg, { ...deps, gateway: deps.gateway.as({ via: 'door', client: `door:${key}`, door: key }) }), ...(d.errors ? { errors: d.errors } : {}) });
  }
  return out;
}
