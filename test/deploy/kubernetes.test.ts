/**
 * deploy/kubernetes/: the Kustomize base and the example overlay are rendered (test/deploy/kustomize.ts, compared
 * with `kubectl kustomize` where kubectl is installed), every object is validated offline against the Kubernetes
 * schemas (kubernetes-models, plus an unknown-field check), and the invariants the gateway relies on are asserted:
 * probes, security context, graceful termination versus server.shutdown_grace_ms, selectors, network policies, and
 * the ConfigMap's config.yaml parsed by the gateway's own parseConfig.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ConfigError, parseConfig, type Config } from '../../src/config.js';
import { schemaProblems, unknownFieldProblems } from './k8s-schema.js';
import { readYamlDocuments, renderKustomization, type K8sObject } from './kustomize.js';

const ROOT = process.cwd();
const K8S = path.join(ROOT, 'deploy', 'kubernetes');
const BASE = path.join(K8S, 'base');
const OVERLAY = path.join(K8S, 'overlays', 'example');
const SECRET_EXAMPLE = path.join(OVERLAY, 'secret.example.yaml');

type Obj = Record<string, any>;

const base = renderKustomization(BASE);
const overlay = renderKustomization(OVERLAY);
const secretExample = readYamlDocuments(SECRET_EXAMPLE) as unknown as K8sObject[];

function find(objects: K8sObject[], kind: string, name: string): Obj {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  assert.equal(found.length, 1, `${kind}/${name} rendered ${found.length} times`);
  return found[0] as Obj;
}
const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind) as Obj[];
const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** A label selector's matchLabels selects these labels (matchExpressions are not used by these manifests). */
function selects(selector: Obj | undefined, labels: Record<string, string>): boolean {
  assert.ok(selector, 'a selector');
  assert.equal(selector.matchExpressions, undefined, 'matchExpressions are not used');
  const want = (selector.matchLabels ?? selector) as Record<string, string>;
  assert.ok(Object.keys(want).length > 0, 'an empty selector selects everything');
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

const podLabels = (workload: Obj) => workload.spec.template.metadata.labels as Record<string, string>;
const container = (workload: Obj, name: string) => {
  const c = (workload.spec.template.spec.containers as Obj[]).find((x) => x.name === name);
  assert.ok(c, `container ${name}`);
  return c;
};
/** A probe's or Service's port: a number, or the name of one of the container's ports. */
function portNumber(c: Obj, port: number | string): number {
  if (typeof port === 'number') return port;
  const p = (c.ports as Obj[]).find((x) => x.name === port);
  assert.ok(p, `container port named ${port}`);
  return p.containerPort as number;
}

/** The container's environment as Kubernetes builds it: Secret keys from `secrets`, $(VAR) expanded. */
function containerEnv(c: Obj, secrets: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of (c.env ?? []) as Obj[]) {
    if (e.valueFrom) {
      const ref = e.valueFrom.secretKeyRef;
      assert.ok(ref, `env ${e.name}: only secretKeyRef is used`);
      assert.equal(ref.name, 'legacy-gateway-secrets');
      assert.ok(ref.key in secrets, `env ${e.name}: key ${ref.key} has a value in the test`);
      env[e.name] = secrets[ref.key]!;
    } else {
      env[e.name] = String(e.value).replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name?: string) =>
        m === '$$' ? '$' : name && name in env ? env[name]! : m,
      );
    }
  }
  return env;
}

function configText(objects: K8sObject[]): { cm: Obj; text: string } {
  const gw = find(objects, 'Deployment', 'legacy-gateway');
  const volume = (gw.spec.template.spec.volumes as Obj[]).find((v) => v.name === 'config');
  assert.ok(volume?.configMap, 'the config volume is a ConfigMap');
  const cm = find(objects, 'ConfigMap', volume.configMap.name);
  const item = (volume.configMap.items as Obj[]).find((i) => i.path === 'config.yaml');
  assert.ok(item, 'the volume maps a key to config.yaml');
  return { cm, text: cm.data[item.key] as string };
}

/** Dummy values for the Secret's keys (the Secret itself is created outside Git). */
const DUMMY_SECRETS = {
  LEGACY_DB_URL: 'postgres://gateway:dummy-password@db.internal:5432/legacy?sslmode=verify-full',
  REDIS_PASSWORD: '0123456789abcdef0123456789abcdef',
  LOG_AUDIT_KEY: 'fedcba9876543210fedcba9876543210',
};

function gatewayConfig(objects: K8sObject[], secrets: Record<string, string> = DUMMY_SECRETS): Config {
  const gw = find(objects, 'Deployment', 'legacy-gateway');
  return parseConfig(parseYaml(configText(objects).text), containerEnv(container(gw, 'gateway'), secrets));
}

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
const kubectlSkip = kubectl.status === 0 ? false : 'kubectl is not installed: the renderer is not compared with kustomize itself';

describe('deploy/kubernetes: rendering', () => {
  it('renders the base and the example overlay to the expected objects', () => {
    const kinds = (objects: K8sObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '-<hash>')}`).sort();
    const common = [
      'ConfigMap/legacy-gateway-config-<hash>',
      'Deployment/legacy-gateway',
      'Deployment/legacy-gateway-redis',
      'HorizontalPodAutoscaler/legacy-gateway',
      'NetworkPolicy/legacy-gateway',
      'NetworkPolicy/legacy-gateway-redis',
      'PodDisruptionBudget/legacy-gateway',
      'Service/legacy-gateway',
      'Service/legacy-gateway-redis',
    ];
    assert.deepEqual(kinds(base), common);
    assert.deepEqual(kinds(overlay), [...common, 'Namespace/legacy-gateway', 'NetworkPolicy/default-deny'].sort());
    for (const o of overlay) {
      if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'legacy-gateway', key(o));
      assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], 'example', key(o));
    }
    for (const o of base) assert.equal(o.metadata.namespace, undefined, key(o));
  });

  it('renders exactly what kubectl kustomize (kustomize v5) renders', { skip: kubectlSkip }, () => {
    for (const dir of [BASE, OVERLAY]) {
      const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 16 << 20 });
      const theirs = parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
      const ours = renderKustomization(dir);
      const sort = (l: K8sObject[]) => [...l].sort((a, b) => key(a).localeCompare(key(b)));
      assert.deepEqual(JSON.parse(JSON.stringify(sort(ours))), JSON.parse(JSON.stringify(sort(theirs))), dir);
    }
  });

  it('the config file in the ConfigMap is the base config.yaml, and its name changes with its content', () => {
    const { cm, text } = configText(overlay);
    assert.equal(text, readFileSync(path.join(BASE, 'config.yaml'), 'utf8'));
    assert.match(cm.metadata.name, /^legacy-gateway-config-[a-z0-9]{10}$/);
    assert.equal(configText(base).cm.metadata.name, cm.metadata.name, 'labels and namespace do not change the hash');
  });
});

describe('deploy/kubernetes: schemas', () => {
  const all = [...overlay, ...base, ...secretExample];

  it('every rendered object, and the Secret example, is valid against the Kubernetes schemas (kubernetes-models)', async () => {
    const problems: string[] = [];
    for (const o of all) for (const p of await schemaProblems(o)) problems.push(`${key(o)} ${p}`);
    assert.deepEqual(problems, []);
  });

  it('no object has a field the Kubernetes API does not define (kubernetes-models TypeScript interfaces)', () => {
    assert.deepEqual(unknownFieldProblems(all, ROOT), []);
  });

  it('both checks do catch a broken manifest', async () => {
    const deployment = () => structuredClone(find(overlay, 'Deployment', 'legacy-gateway')) as Obj;
    const wrongType = deployment();
    wrongType.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
    delete wrongType.spec.selector;
    const schema = await schemaProblems(wrongType as K8sObject);
    assert.ok(schema.some((p) => p.startsWith('/spec/template/spec/containers/0/ports/0/containerPort:')), schema.join('\n'));
    assert.ok(schema.some((p) => p.includes('selector')), schema.join('\n'));
    // An unknown field passes the schema validator (as kubeconform without -strict), not the interface check.
    const unknownField = deployment();
    unknownField.metadata.name = 'typo';
    const c = unknownField.spec.template.spec.containers[0];
    c.readinessProbes = c.readinessProbe;
    assert.deepEqual(await schemaProblems(unknownField as K8sObject), []);
    const fields = unknownFieldProblems([wrongType as K8sObject, unknownField as K8sObject], ROOT);
    assert.ok(fields.some((p) => p.startsWith('Deployment/typo:') && p.includes('readinessProbes') && p.includes("does not exist in type 'IContainer'")), fields.join('\n'));
    assert.ok(fields.some((p) => p.startsWith('Deployment/legacy-gateway:') && p.includes("'string' is not assignable to type 'number'")), fields.join('\n'));
  });

  it('names and labels are valid Kubernetes names and label values', () => {
    const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
    for (const o of all) {
      assert.ok(o.metadata.name.length <= 63 && dns1123Label.test(o.metadata.name), key(o));
      for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
        assert.ok(v.length <= 63 && /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(v), `${key(o)} label ${k}=${v}`);
      }
    }
  });
});

describe('deploy/kubernetes: the gateway Deployment', () => {
  const gw = find(overlay, 'Deployment', 'legacy-gateway');
  const c = container(gw, 'gateway');
  const pod = gw.spec.template.spec;

  it('runs 3 replicas in the overlay (2 in the base), the overlay image, rolling without losing capacity', () => {
    assert.equal(gw.spec.replicas, 3);
    assert.equal(find(base, 'Deployment', 'legacy-gateway').spec.replicas, 2);
    assert.equal(c.image, 'registry.example.com/legacy-gateway:0.1.0');
    assert.deepEqual(gw.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    assert.ok(selects(gw.spec.selector, podLabels(gw)));
  });

  it('liveness GET /healthz, readiness GET /readyz, on port 8080 = server.port', () => {
    const config = gatewayConfig(overlay);
    assert.equal(config.server.port, 8080);
    for (const [probe, p] of [
      ['livenessProbe', '/healthz'],
      ['readinessProbe', '/readyz'],
      ['startupProbe', '/healthz'],
    ] as const) {
      assert.equal(c[probe].httpGet.path, p, probe);
      assert.equal(portNumber(c, c[probe].httpGet.port), config.server.port, probe);
      assert.equal(c[probe].httpGet.scheme ?? 'HTTP', 'HTTP', probe);
    }
    assert.equal(portNumber(c, 'metrics'), config.metrics?.port);
  });

  it('requests and limits CPU and memory', () => {
    const r = c.resources;
    for (const k of ['cpu', 'memory']) {
      assert.ok(r.requests[k], `requests.${k}`);
      assert.ok(r.limits[k], `limits.${k}`);
    }
    const mi = (q: string) => Number(/^(\d+)Mi$/.exec(q)?.[1]);
    const cpu = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) : Number(q) * 1000);
    assert.ok(mi(r.requests.memory) <= mi(r.limits.memory) && mi(r.limits.memory) >= 256, 'memory: the RSS under load is ~190 MB');
    assert.ok(cpu(r.requests.cpu) <= cpu(r.limits.cpu));
  });

  it('non-root (uid 1000), read-only root filesystem, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 1000);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    const s = c.securityContext;
    assert.equal(s.runAsNonRoot, true);
    assert.equal(s.runAsUser, 1000);
    assert.equal(s.readOnlyRootFilesystem, true);
    assert.equal(s.allowPrivilegeEscalation, false);
    assert.deepEqual(s.capabilities, { drop: ['ALL'] });
    assert.equal(s.seccompProfile.type, 'RuntimeDefault');
    assert.equal(pod.automountServiceAccountToken, false);
    const tmp = (c.volumeMounts as Obj[]).find((m) => m.mountPath === '/tmp');
    assert.ok(tmp, '/tmp is mounted');
    assert.ok((pod.volumes as Obj[]).find((v) => v.name === tmp.name)?.emptyDir, '/tmp is an emptyDir');
  });

  it('terminationGracePeriodSeconds exceeds the preStop sleep + server.shutdown_grace_ms + the 1 s exit margin', () => {
    const config = gatewayConfig(overlay);
    const sleep = c.lifecycle.preStop.exec.command as string[];
    assert.equal(sleep[0], 'sleep');
    const sleepS = Number(sleep[1]);
    assert.ok(sleepS >= 5, 'the endpoints controller and the ingress need a few seconds to drop the pod');
    // src/server.ts: the shutdown is bounded by shutdown_grace_ms, and the process exits at the latest 1 s later.
    const needS = sleepS + config.server.shutdown_grace_ms / 1000 + 1;
    assert.ok(gw.spec.template.spec.terminationGracePeriodSeconds > needS, `${gw.spec.template.spec.terminationGracePeriodSeconds} s > ${needS} s`);
  });

  it('mounts the ConfigMap at /etc/legacy-gateway/config.yaml, the path the container is started with', () => {
    const mount = (c.volumeMounts as Obj[]).find((m) => m.name === 'config');
    assert.equal(mount?.mountPath, '/etc/legacy-gateway');
    assert.equal(mount?.readOnly, true);
    assert.deepEqual(c.args, ['serve', '--config', '/etc/legacy-gateway/config.yaml']);
  });

  it('spreads the replicas over nodes (topology spread and pod anti-affinity on kubernetes.io/hostname)', () => {
    const spread = pod.topologySpreadConstraints as Obj[];
    assert.ok(spread.some((t) => t.topologyKey === 'kubernetes.io/hostname' && selects(t.labelSelector, podLabels(gw))));
    const anti = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution as Obj[];
    assert.ok(anti.some((a) => a.podAffinityTerm.topologyKey === 'kubernetes.io/hostname' && selects(a.podAffinityTerm.labelSelector, podLabels(gw))));
  });
});

describe('deploy/kubernetes: Service, PodDisruptionBudget, HorizontalPodAutoscaler', () => {
  for (const [label, objects, replicas] of [
    ['overlay', overlay, 3],
    ['base', base, 2],
  ] as const) {
    it(`${label}: they select the gateway's pods and only those`, () => {
      const gw = find(objects, 'Deployment', 'legacy-gateway');
      const redis = find(objects, 'Deployment', 'legacy-gateway-redis');
      const svc = find(objects, 'Service', 'legacy-gateway');
      const pdb = find(objects, 'PodDisruptionBudget', 'legacy-gateway');
      const hpa = find(objects, 'HorizontalPodAutoscaler', 'legacy-gateway');
      for (const [what, selector] of [
        ['Service', svc.spec.selector],
        ['PodDisruptionBudget', pdb.spec.selector],
      ]) {
        assert.ok(selects(selector, podLabels(gw)), `${what} selects the gateway's pods`);
        assert.ok(!selects(selector, podLabels(redis)), `${what} does not select Redis`);
      }
      assert.equal(svc.spec.type, 'ClusterIP');
      assert.equal(svc.spec.ports.length, 1);
      assert.equal(svc.spec.ports[0].port, 80);
      assert.equal(portNumber(container(gw, 'gateway'), svc.spec.ports[0].targetPort), 8080);
      assert.ok(pdb.spec.maxUnavailable === 1 || pdb.spec.minAvailable === 1);
      assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: gw.metadata.name });
      assert.equal(hpa.spec.minReplicas, replicas);
      assert.equal(gw.spec.replicas, hpa.spec.minReplicas, 'the Deployment starts at the autoscaler minimum');
      assert.ok(hpa.spec.maxReplicas > hpa.spec.minReplicas);
      assert.deepEqual(
        (hpa.spec.metrics as Obj[]).map((m) => [m.type, m.resource.name, m.resource.target.type]),
        [['Resource', 'cpu', 'Utilization']],
      );
    });
  }
});

describe('deploy/kubernetes: NetworkPolicies', () => {
  const gw = find(overlay, 'Deployment', 'legacy-gateway');
  const redis = find(overlay, 'Deployment', 'legacy-gateway-redis');
  const np = find(overlay, 'NetworkPolicy', 'legacy-gateway');
  const rnp = find(overlay, 'NetworkPolicy', 'legacy-gateway-redis');
  const ports = (rule: Obj, c: Obj) => (rule.ports as Obj[]).map((p) => `${portNumber(c, p.port)}/${p.protocol}`).sort();

  it("the gateway's pods: ingress only from the ingress controller to 8080 (and Prometheus to the metrics port)", () => {
    assert.ok(selects(np.spec.podSelector, podLabels(gw)));
    assert.ok(!selects(np.spec.podSelector, podLabels(redis)));
    assert.deepEqual([...np.spec.policyTypes].sort(), ['Egress', 'Ingress']);
    const rules = np.spec.ingress as Obj[];
    assert.equal(rules.length, 2);
    const c = container(gw, 'gateway');
    assert.deepEqual(ports(rules[0]!, c), ['8080/TCP']);
    assert.deepEqual(rules[0]!.from, [
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
      },
    ]);
    assert.deepEqual(ports(rules[1]!, c), ['9464/TCP']);
    for (const r of rules) {
      for (const peer of r.from as Obj[]) {
        assert.ok(peer.namespaceSelector && peer.podSelector, 'every peer names a namespace and its pods');
        assert.equal(peer.ipBlock, undefined);
      }
    }
  });

  it("the gateway's pods: egress only to DNS (53 UDP/TCP, kube-dns), the database (5432), Redis (6379) and HTTPS outside private ranges", () => {
    const c = container(gw, 'gateway');
    const rules = np.spec.egress as Obj[];
    const summary = rules.map((r) => ports(r, c).join(','));
    assert.deepEqual(summary, ['53/TCP,53/UDP', '5432/TCP', '6379/TCP', '443/TCP']);
    assert.deepEqual(rules[0]!.to, [
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } },
    ]);
    assert.ok(rules[1]!.to.every((p: Obj) => p.ipBlock && !p.ipBlock.cidr.startsWith('0.0.0.0')), 'the database is one address range');
    assert.ok(selects(rules[2]!.to[0].podSelector, podLabels(redis)));
    assert.equal(rules[2]!.to[0].namespaceSelector, undefined, 'Redis in the same namespace');
    const https = rules[3]!.to[0].ipBlock;
    for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16']) assert.ok(https.except.includes(cidr), cidr);
    // The database port the policy opens is the port of the database URL the Secret example documents.
    const dbUrl = new URL((secretExample[0] as Obj).stringData.LEGACY_DB_URL);
    assert.equal(`${dbUrl.port}/TCP`, summary[1]);
    assert.equal(gatewayConfig(overlay).store.adapter, 'postgres');
  });

  it('Redis admits only the gateway pods, on 6379, and reaches nothing', () => {
    assert.ok(selects(rnp.spec.podSelector, podLabels(redis)));
    assert.ok(!selects(rnp.spec.podSelector, podLabels(gw)));
    assert.deepEqual([...rnp.spec.policyTypes].sort(), ['Egress', 'Ingress']);
    assert.equal(rnp.spec.ingress.length, 1);
    assert.equal(rnp.spec.ingress[0].from.length, 1);
    assert.ok(selects(rnp.spec.ingress[0].from[0].podSelector, podLabels(gw)));
    assert.deepEqual(ports(rnp.spec.ingress[0], container(redis, 'redis')), ['6379/TCP']);
    assert.deepEqual(rnp.spec.egress, []);
  });

  it('the overlay: a namespace under the restricted Pod Security Standard, everything else denied by default', () => {
    const ns = find(overlay, 'Namespace', 'legacy-gateway');
    assert.equal(ns.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    const deny = find(overlay, 'NetworkPolicy', 'default-deny');
    assert.deepEqual(deny.spec, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  });
});

describe('deploy/kubernetes: Redis for the limiter', () => {
  const redis = find(overlay, 'Deployment', 'legacy-gateway-redis');
  const c = container(redis, 'redis');
  const svc = find(overlay, 'Service', 'legacy-gateway-redis');

  it('one replica, no persistence, a password from the Secret, bounded memory', () => {
    assert.equal(redis.spec.replicas, 1);
    const args = c.args as string[];
    const arg = (flag: string) => args[args.indexOf(flag) + 1];
    assert.equal(arg('--save'), '');
    assert.equal(arg('--appendonly'), 'no');
    assert.equal(arg('--requirepass'), '$(REDIS_PASSWORD)');
    assert.equal(containerEnv(c, DUMMY_SECRETS).REDIS_PASSWORD, DUMMY_SECRETS.REDIS_PASSWORD);
    assert.ok(arg('--maxmemory'));
    assert.equal(c.image, 'redis:7.2.5-alpine');
    assert.equal(redis.spec.template.spec.volumes.every((v: Obj) => v.emptyDir), true, 'no PersistentVolumeClaim');
  });

  it('the gateway reaches it through its Service, with the same password', () => {
    const config = gatewayConfig(overlay);
    assert.ok(config.limits.redis_url, 'limits.redis_url is set');
    const url = new URL(config.limits.redis_url);
    assert.equal(url.protocol, 'redis:');
    assert.equal(url.hostname, svc.metadata.name);
    assert.equal(Number(url.port), svc.spec.ports[0].port);
    assert.equal(portNumber(c, svc.spec.ports[0].targetPort), 6379);
    assert.equal(decodeURIComponent(url.password), DUMMY_SECRETS.REDIS_PASSWORD);
    assert.ok(selects(svc.spec.selector, podLabels(redis)));
  });

  it('meets the same restricted security context as the gateway', () => {
    const pod = redis.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
    assert.equal(c.securityContext.seccompProfile.type, 'RuntimeDefault');
  });
});

describe('deploy/kubernetes: the gateway configuration and the Secret', () => {
  it("the ConfigMap's config.yaml is a valid gateway configuration (parseConfig) with the Secret's keys set", () => {
    const config = gatewayConfig(overlay);
    assert.equal(config.store.url, DUMMY_SECRETS.LEGACY_DB_URL);
    assert.equal(config.limits.redis_url, `redis://:${DUMMY_SECRETS.REDIS_PASSWORD}@legacy-gateway-redis:6379`);
    assert.equal(new URL(config.auth.issuer).protocol, 'https:');
    assert.equal(config.auth.allow_insecure_http, false);
    assert.equal(config.server.host, '0.0.0.0');
    assert.ok(config.server.keep_alive_timeout_ms > 60_000, "above ingress-nginx's 60 s upstream keep-alive");
    assert.equal(config.metrics?.host, '0.0.0.0');
    assert.equal(config.log.audit_key, DUMMY_SECRETS.LOG_AUDIT_KEY, 'one audit key for every replica');
  });

  it('without the Secret the configuration is refused, naming the missing variables', () => {
    assert.throws(
      () => gatewayConfig(overlay, { ...DUMMY_SECRETS, LEGACY_DB_URL: '' }),
      (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.startsWith('store.url:') && p.includes('LEGACY_DB_URL')),
    );
  });

  it('the Secret example has exactly the keys the Deployments read, with placeholder values only', () => {
    assert.equal(secretExample.length, 1);
    const s = secretExample[0] as Obj;
    assert.equal(s.metadata.name, 'legacy-gateway-secrets');
    const read = new Set<string>();
    for (const d of byKind(overlay, 'Deployment')) {
      for (const c of d.spec.template.spec.containers as Obj[]) {
        for (const e of (c.env ?? []) as Obj[]) if (e.valueFrom?.secretKeyRef) read.add(e.valueFrom.secretKeyRef.key);
      }
    }
    assert.deepEqual(Object.keys(s.stringData).sort(), [...read].sort());
    for (const v of Object.values(s.stringData) as string[]) assert.match(v, /REPLACE_ME/);
    const kustomization = parseYaml(readFileSync(path.join(OVERLAY, 'kustomization.yaml'), 'utf8')) as Obj;
    assert.ok(!(kustomization.resources as string[]).some((r) => r.includes('secret')), 'the example Secret is never applied');
    assert.ok(!overlay.some((o) => o.kind === 'Secret'));
  });
});

describe('deploy/kubernetes: files', () => {
  it('no kustomization refers to a file that does not exist', () => {
    for (const dir of [BASE, OVERLAY]) {
      const k = parseYaml(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as Obj;
      const refs = [...(k.resources ?? []), ...(k.patches ?? []).map((p: Obj) => p.path), ...(k.configMapGenerator ?? []).flatMap((g: Obj) => g.files ?? [])];
      for (const r of refs) assert.ok(existsSync(path.resolve(dir, String(r))), `${dir}: ${r}`);
    }
  });
});
