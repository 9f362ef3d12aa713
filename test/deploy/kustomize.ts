/**
 * A minimal Kustomize renderer for the tests of deploy/kubernetes/ (kustomize itself is not in Debian bookworm, and
 * the npm registry has no maintained package of it). It implements only what those manifests use, the way
 * kustomize v5 does, and refuses everything else by name rather than ignoring it:
 *
 * - `resources`: YAML files (several documents each) and directories holding a kustomization.yaml (rendered first);
 * - `configMapGenerator`: `files` (`path` or `key=path`) and `literals`, with kustomize's content-hash name suffix,
 *   and the references to the generated name in pod templates (volumes, envFrom, env valueFrom) rewritten;
 * - `patches`: `path` to a strategic-merge patch file (one or more documents, each matched by kind and name). Maps
 *   merge, `null` deletes a key; lists of objects merge by the Kubernetes merge key for the fields listed in
 *   MERGE_KEYS (containers by name, env by name, ...); any other list is replaced; `$patch` directives are refused;
 * - `namespace`: set on every namespaced object (not on cluster-scoped kinds such as Namespace);
 * - `labels` with `includeSelectors: false` (and no `includeTemplates`): added to every object's metadata.labels;
 * - `images`: `name` → `newName` / `newTag` / `digest` in every pod template's containers and initContainers;
 * - `replicas`: `name` + `count` on a Deployment, StatefulSet or ReplicaSet.
 *
 * kubernetes.test.ts compares this renderer's output with `kubectl kustomize` (kustomize v5) where kubectl is
 * installed, so the two cannot drift apart unnoticed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const KUSTOMIZATION_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'configMapGenerator',
  'patches',
  'namespace',
  'labels',
  'images',
  'replicas',
]);

/** Kinds without a namespace (those these manifests could contain). */
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'PersistentVolume', 'StorageClass', 'PriorityClass']);

/** Strategic-merge keys of the lists a patch may merge into (by field name), as in the Kubernetes API types. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  volumes: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  imagePullSecrets: 'name',
};

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job']);

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function readYamlDocuments(file: string): Json[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: Json[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]!.message}`);
    const v = d.toJS() as Json;
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

function asObject(v: Json, where: string): K8sObject {
  if (!isObject(v) || typeof v.kind !== 'string' || typeof v.apiVersion !== 'string' || !isObject(v.metadata) || typeof v.metadata.name !== 'string') {
    throw new Error(`${where}: not a Kubernetes object (apiVersion, kind, metadata.name)`);
  }
  return v as unknown as K8sObject;
}

/** The pod template's spec of a workload (or a Pod's own spec), if any. */
export function podSpecOf(o: K8sObject): JsonObject | undefined {
  if (o.kind === 'Pod') return isObject(o.spec as Json) ? (o.spec as JsonObject) : undefined;
  if (o.kind === 'CronJob') {
    const s = (o.spec as JsonObject | undefined)?.jobTemplate;
    const t = isObject(s as Json) ? (s as JsonObject).spec : undefined;
    const tpl = isObject(t as Json) ? (t as JsonObject).template : undefined;
    return isObject(tpl as Json) && isObject((tpl as JsonObject).spec) ? ((tpl as JsonObject).spec as JsonObject) : undefined;
  }
  if (!WORKLOADS.has(o.kind)) return undefined;
  const tpl = (o.spec as JsonObject | undefined)?.template;
  return isObject(tpl as Json) && isObject((tpl as JsonObject).spec) ? ((tpl as JsonObject).spec as JsonObject) : undefined;
}

function containersOf(spec: JsonObject): JsonObject[] {
  return [...((spec.initContainers as Json[] | undefined) ?? []), ...((spec.containers as Json[] | undefined) ?? [])].filter(isObject);
}

/** kustomize's name suffix: sha256 of a JSON encoding of the ConfigMap, first 10 hex digits, 5 of them remapped. */
export function configMapHash(data: Record<string, string>): string {
  // kustomize v5 (api/hasher) encodes {"data", "kind", "name"} with Go's json.Marshal (sorted keys; <, > and &
  // escaped). Its lookup of "metadata/name" finds nothing, so the name it hashes is "" (checked against kubectl).
  const sorted = Object.fromEntries(Object.keys(data).sort().map((k) => [k, data[k]]));
  const json = JSON.stringify({ data: sorted, kind: 'ConfigMap', name: '' })
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  const hex = createHash('sha256').update(json).digest('hex').slice(0, 10);
  return hex.replace(/[013ae]/g, (c) => ({ '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' })[c as '0']);
}

/** Strategic merge of patch into target (both plain JSON), returning a new value. */
export function strategicMerge(target: Json, patch: Json, field = ''): Json {
  if (isObject(patch) && '$patch' in patch) throw new Error(`strategic-merge directive $patch is not supported (at ${field || 'root'})`);
  if (isObject(target) && isObject(patch)) {
    const out: JsonObject = { ...target };
    for (const [k, v] of Object.entries(patch)) {
      if (k.startsWith('$')) throw new Error(`strategic-merge directive ${k} is not supported`);
      if (v === null) delete out[k];
      else out[k] = k in target ? strategicMerge(target[k]!, v, k) : v;
    }
    return out;
  }
  const key = MERGE_KEYS[field];
  if (Array.isArray(target) && Array.isArray(patch) && key && patch.every(isObject) && target.every(isObject)) {
    const out: Json[] = [...target];
    for (const p of patch as JsonObject[]) {
      if (p[key] === undefined) throw new Error(`a patch entry of ${field} lacks its merge key ${key}`);
      const i = out.findIndex((t) => (t as JsonObject)[key] === p[key]);
      if (i === -1) out.push(p);
      else out[i] = strategicMerge(out[i]!, p, field);
    }
    return out;
  }
  return patch;
}

function parseImage(image: string): { name: string; tag?: string; digest?: string } {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), ...(digest ? { digest } : {}) };
  return { name: rest, ...(digest ? { digest } : {}) };
}

interface ImageEntry {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}

function setImages(objects: K8sObject[], images: ImageEntry[]): void {
  for (const o of objects) {
    const spec = podSpecOf(o);
    if (!spec) continue;
    for (const c of containersOf(spec)) {
      if (typeof c.image !== 'string') continue;
      const img = parseImage(c.image);
      const entry = images.find((e) => e.name === img.name);
      if (!entry) continue;
      const name = entry.newName ?? img.name;
      if (entry.digest) c.image = `${name}@${entry.digest}`;
      else if (entry.newTag) c.image = `${name}:${entry.newTag}`;
      else c.image = `${name}${img.tag ? `:${img.tag}` : ''}${img.digest ? `@${img.digest}` : ''}`;
    }
  }
}

function renameConfigMapReferences(objects: K8sObject[], from: string, to: string): void {
  for (const o of objects) {
    const spec = podSpecOf(o);
    if (!spec) continue;
    for (const v of (spec.volumes as Json[] | undefined) ?? []) {
      if (isObject(v) && isObject(v.configMap) && v.configMap.name === from) v.configMap.name = to;
      if (isObject(v) && isObject(v.projected)) {
        for (const s of (v.projected.sources as Json[] | undefined) ?? []) {
          if (isObject(s) && isObject(s.configMap) && s.configMap.name === from) s.configMap.name = to;
        }
      }
    }
    for (const c of containersOf(spec)) {
      for (const e of (c.envFrom as Json[] | undefined) ?? []) {
        if (isObject(e) && isObject(e.configMapRef) && e.configMapRef.name === from) e.configMapRef.name = to;
      }
      for (const e of (c.env as Json[] | undefined) ?? []) {
        const ref = isObject(e) && isObject(e.valueFrom) ? e.valueFrom.configMapKeyRef : undefined;
        if (isObject(ref as Json) && (ref as JsonObject).name === from) (ref as JsonObject).name = to;
      }
    }
  }
}

interface Rendered {
  objects: K8sObject[];
  /** Generated ConfigMaps: name before the hash → object (renamed once the whole tree is rendered). */
  generated: Map<string, K8sObject>;
}

function renderDir(dir: string): Rendered {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => path.join(dir, f)).find((f) => existsSync(f));
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  const docs = readYamlDocuments(file);
  if (docs.length !== 1 || !isObject(docs[0]!)) throw new Error(`${file}: must hold one mapping`);
  const k = docs[0] as JsonObject;
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_FIELDS.has(key)) throw new Error(`${file}: "${key}" is not supported by the test renderer (test/deploy/kustomize.ts)`);
  }
  const objects: K8sObject[] = [];
  const generated = new Map<string, K8sObject>();

  for (const r of (k.resources as Json[] | undefined) ?? []) {
    if (typeof r !== 'string') throw new Error(`${file}: resources entries must be paths`);
    const p = path.resolve(dir, r);
    if (statSync(p).isDirectory()) {
      const sub = renderDir(p);
      objects.push(...sub.objects);
      for (const [n, o] of sub.generated) generated.set(n, o);
    } else {
      readYamlDocuments(p).forEach((d, i) => objects.push(asObject(d, `${p} document ${i + 1}`)));
    }
  }

  for (const g of (k.configMapGenerator as Json[] | undefined) ?? []) {
    if (!isObject(g) || typeof g.name !== 'string') throw new Error(`${file}: configMapGenerator entries need a name`);
    for (const key of Object.keys(g)) {
      if (!['name', 'files', 'literals'].includes(key)) throw new Error(`${file}: configMapGenerator.${key} is not supported by the test renderer`);
    }
    const data: Record<string, string> = {};
    for (const f of (g.files as Json[] | undefined) ?? []) {
      const s = String(f);
      const eq = s.indexOf('=');
      const [key, rel] = eq === -1 ? [path.basename(s), s] : [s.slice(0, eq), s.slice(eq + 1)];
      data[key] = readFileSync(path.resolve(dir, rel), 'utf8');
    }
    for (const l of (g.literals as Json[] | undefined) ?? []) {
      const s = String(l);
      const eq = s.indexOf('=');
      if (eq === -1) throw new Error(`${file}: literal "${s}" needs key=value`);
      data[s.slice(0, eq)] = s.slice(eq + 1);
    }
    const cm: K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data };
    objects.push(cm);
    generated.set(g.name, cm);
  }

  for (const p of (k.patches as Json[] | undefined) ?? []) {
    if (!isObject(p) || typeof p.path !== 'string' || Object.keys(p).length !== 1) {
      throw new Error(`${file}: only patches with a path (a strategic-merge patch file) are supported by the test renderer`);
    }
    const patchFile = path.resolve(dir, p.path);
    for (const [i, d] of readYamlDocuments(patchFile).entries()) {
      const patch = asObject(d, `${patchFile} document ${i + 1}`);
      const matches = objects.filter(
        (o) => o.kind === patch.kind && o.metadata.name === patch.metadata.name && (!patch.metadata.namespace || o.metadata.namespace === patch.metadata.namespace),
      );
      if (matches.length !== 1) throw new Error(`${patchFile}: ${patch.kind}/${patch.metadata.name} matches ${matches.length} objects, not 1`);
      const target = matches[0]! as unknown as JsonObject;
      const merged = strategicMerge(target, patch as unknown as Json) as JsonObject;
      for (const key of Object.keys(target)) delete target[key];
      Object.assign(target, merged); // in place: the object keeps its identity (generated ConfigMaps)
    }
  }

  if (k.namespace !== undefined) {
    if (typeof k.namespace !== 'string') throw new Error(`${file}: namespace must be a string`);
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }

  for (const l of (k.labels as Json[] | undefined) ?? []) {
    if (!isObject(l) || !isObject(l.pairs)) throw new Error(`${file}: labels entries need pairs`);
    if (l.includeSelectors === true || l.includeTemplates === true || l.fields !== undefined) {
      throw new Error(`${file}: labels with includeSelectors, includeTemplates or fields are not supported by the test renderer`);
    }
    for (const o of objects) o.metadata.labels = { ...(o.metadata.labels ?? {}), ...(l.pairs as Record<string, string>) };
  }

  const images = (k.images as Json[] | undefined) ?? [];
  for (const i of images) {
    if (!isObject(i) || typeof i.name !== 'string') throw new Error(`${file}: images entries need a name`);
    for (const key of Object.keys(i)) if (!['name', 'newName', 'newTag', 'digest'].includes(key)) throw new Error(`${file}: images.${key} is not supported`);
  }
  setImages(objects, images as unknown as ImageEntry[]);

  for (const r of (k.replicas as Json[] | undefined) ?? []) {
    if (!isObject(r) || typeof r.name !== 'string' || typeof r.count !== 'number') throw new Error(`${file}: replicas entries need name and count`);
    const targets = objects.filter((o) => ['Deployment', 'StatefulSet', 'ReplicaSet'].includes(o.kind) && o.metadata.name === r.name);
    if (targets.length === 0) throw new Error(`${file}: replicas: no workload named ${r.name}`);
    for (const t of targets) (t.spec as JsonObject).replicas = r.count;
  }

  return { objects, generated };
}

/** Render a kustomization directory (a base or an overlay) to its list of objects, as `kubectl kustomize DIR` does. */
export function renderKustomization(dir: string): K8sObject[] {
  const { objects, generated } = renderDir(dir);
  for (const [name, cm] of generated) {
    const hashed = `${name}-${configMapHash(cm.data as Record<string, string>)}`;
    cm.metadata.name = hashed;
    renameConfigMapReferences(objects, name, hashed);
  }
  return objects;
}
