// The deployment files in deploy/ must stay true to the code: the configuration
// they carry passes Portcullis's own schema, and ports, probes, mounts, secrets
// and timeouts agree with that configuration and with the Dockerfile.
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { loadConfigText, type LoadedConfig } from '../../src/config/load.ts';
import { demoServeSettings } from '../../src/demo/serve.ts';

const root = join(import.meta.dirname, '..', '..');
const k8sDir = join(root, 'deploy', 'kubernetes');
const composeFile = join(root, 'deploy', 'compose.yaml');

// Loose shapes: the tests read manifests as plain data and check what matters.
type Obj = Record<string, any>;

function readDocuments(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  if (!Array.isArray(docs)) return [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
  }
  return docs.map((doc) => doc.toJS() as Obj).filter((d) => d !== null);
}

const manifestFiles = readdirSync(k8sDir).filter((f) => f.endsWith('.yaml'));
const manifests = manifestFiles.flatMap((file) => readDocuments(join(k8sDir, file)).map((doc) => ({ file, doc })));
const byKind = (kind: string): Obj[] => manifests.filter((m) => m.doc.kind === kind).map((m) => m.doc);
const one = (kind: string): Obj => {
  const found = byKind(kind);
  if (found.length !== 1) throw new Error(`expected exactly one ${kind} in deploy/kubernetes, found ${found.length}`);
  return found[0]!;
};

const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const imageConfigPath = /PORTCULLIS_CONFIG=(\S+)/.exec(dockerfile)?.[1] ?? '';

const deployment = one('Deployment');
const podSpec: Obj = deployment.spec.template.spec;
const container: Obj = podSpec.containers.find((c: Obj) => c.name === 'portcullis');
const containerEnvNames: string[] = (container.env ?? []).map((e: Obj) => e.name);
const configMap = one('ConfigMap');
const configText: string = configMap.data[basename(imageConfigPath)];

/** Placeholder values for exactly the variables the Deployment provides, so a ${VAR} it lacks fails the load. */
function placeholderEnv(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, `placeholder-${name.toLowerCase()}-`.padEnd(40, 'x')]));
}
const k8sConfig: LoadedConfig = loadConfigText(configText, 'deploy/kubernetes/configmap.yaml#portcullis.yaml', placeholderEnv(containerEnvNames));

function containerPort(nameOrNumber: string | number): number | undefined {
  if (typeof nameOrNumber === 'number') return nameOrNumber;
  return container.ports.find((p: Obj) => p.name === nameOrNumber)?.containerPort;
}

/** Every file the configuration reads, which must therefore be mounted. */
function referencedFiles(config: LoadedConfig): string[] {
  const raw = config.raw;
  return [
    raw.listen.tls?.cert,
    raw.listen.tls?.key,
    raw.identity_provider?.private_key,
    raw.redis?.tls?.ca,
    ...raw.identity.assertion.signing_keys,
    ...raw.routes.flatMap((r) => [r.upstream_tls?.ca, r.upstream_tls?.cert, r.upstream_tls?.key]),
  ].filter((f): f is string => typeof f === 'string');
}

describe('the Kubernetes manifests', () => {
  it('all parse, and each document is a Kubernetes object', () => {
    expect(manifestFiles.length).toBeGreaterThanOrEqual(7);
    for (const { file, doc } of manifests) {
      expect(doc.apiVersion, file).toEqual(expect.any(String));
      expect(doc.kind, file).toEqual(expect.any(String));
    }
  });

  it('carry a portcullis.yaml that passes Portcullis\'s own schema with only the variables the Deployment sets', () => {
    expect(imageConfigPath).toBe('/etc/portcullis/portcullis.yaml');
    expect(k8sConfig.raw.session.store).toBe('redis');
    expect(k8sConfig.raw.redis?.sentinel?.sentinels.length).toBeGreaterThanOrEqual(1);
    expect(k8sConfig.raw.identity.assertion.signing_keys.length).toBeGreaterThanOrEqual(1);
    expect(k8sConfig.raw.trusted_proxies.length).toBeGreaterThanOrEqual(1);
    expect(k8sConfig.raw.routes.some((r) => r.public)).toBe(true);
    expect(k8sConfig.raw.routes.some((r) => !r.public)).toBe(true);
    // Secrets come from the environment, never from the ConfigMap itself.
    expect(configText).toMatch(/client_secret: \$\{OIDC_CLIENT_SECRET\}/);
    expect(configText).toMatch(/secret: \$\{PORTCULLIS_COOKIE_SECRET\}/);
    expect(configText).toMatch(/password: \$\{REDIS_PASSWORD\}/);
  });

  it('expose the listen and ops ports of that configuration, and the ops listener is reachable by the kubelet', () => {
    expect(containerPort('https')).toBe(k8sConfig.raw.listen.address.port);
    expect(containerPort('metrics')).toBe(k8sConfig.raw.ops.address.port);
    expect(k8sConfig.raw.ops.address.host).toBe('0.0.0.0');
    expect(k8sConfig.raw.listen.tls).toBeDefined();
    const exposed = [...dockerfile.matchAll(/^EXPOSE (.+)$/gm)].flatMap((m) => m[1]!.split(/\s+/).map(Number));
    expect(exposed).toEqual(expect.arrayContaining([k8sConfig.raw.listen.address.port, k8sConfig.raw.ops.address.port]));
  });

  it('probe readiness on /readyz and liveness and start-up on /healthz, all at the ops port', () => {
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.startupProbe.httpGet.path).toBe('/healthz');
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
      expect(containerPort(probe.httpGet.port)).toBe(k8sConfig.raw.ops.address.port);
      expect(probe.httpGet.scheme ?? 'HTTP').toBe('HTTP');
    }
  });

  it('mount the ConfigMap as the directory of the image\'s PORTCULLIS_CONFIG, without subPath, so updates are seen', () => {
    const configEnv = container.env.find((e: Obj) => e.name === 'PORTCULLIS_CONFIG');
    if (configEnv) expect(configEnv.value).toBe(imageConfigPath);
    const mount = container.volumeMounts.find((m: Obj) => m.mountPath === posix.dirname(imageConfigPath));
    expect(mount).toBeDefined();
    expect(mount.subPath).toBeUndefined();
    const volume = podSpec.volumes.find((v: Obj) => v.name === mount.name);
    const sources: Obj[] = volume.projected?.sources ?? [{ configMap: volume.configMap }];
    const fromConfigMap = sources.find((s) => s.configMap?.name === configMap.metadata.name)?.configMap;
    expect(fromConfigMap).toBeDefined();
    const item = (fromConfigMap.items ?? []).find((i: Obj) => i.path === basename(imageConfigPath));
    if (fromConfigMap.items) expect(item?.key).toBe(basename(imageConfigPath));
    expect(configMap.data[basename(imageConfigPath)]).toEqual(expect.any(String));
  });

  it('mount every file the configuration reads (TLS, signing keys) from a Secret in the template', () => {
    const secrets = new Map(byKind('Secret').map((s) => [s.metadata.name as string, s]));
    const mountDir = posix.dirname(imageConfigPath);
    const volume = podSpec.volumes.find((v: Obj) => v.name === container.volumeMounts.find((m: Obj) => m.mountPath === mountDir).name);
    const provided = new Set<string>();
    for (const source of volume.projected.sources as Obj[]) {
      if (!source.secret) continue;
      const secret = secrets.get(source.secret.name);
      expect(secret, `Secret ${source.secret.name} is mounted but missing from secret.template.yaml`).toBeDefined();
      const keys = Object.keys(secret!.stringData ?? {});
      const items: Obj[] = source.secret.items ?? keys.map((key) => ({ key, path: key }));
      for (const item of items) {
        expect(keys).toContain(item.key);
        provided.add(posix.join(mountDir, item.path));
      }
    }
    const files = referencedFiles(k8sConfig);
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) expect([...provided], `${file} is named in portcullis.yaml but not mounted`).toContain(file);
  });

  it('take each environment secret from a Secret key that the template defines', () => {
    const secrets = new Map(byKind('Secret').map((s) => [s.metadata.name as string, s]));
    for (const name of ['OIDC_CLIENT_SECRET', 'PORTCULLIS_COOKIE_SECRET', 'REDIS_PASSWORD']) {
      const ref = container.env.find((e: Obj) => e.name === name)?.valueFrom?.secretKeyRef;
      expect(ref, `${name} must come from a Secret`).toBeDefined();
      expect(Object.keys(secrets.get(ref.name)?.stringData ?? {})).toContain(ref.key);
    }
  });

  it('run unprivileged: non-root user 1000, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    const pod = podSpec.securityContext;
    const c = container.securityContext;
    expect(pod.runAsNonRoot).toBe(true);
    expect(c.runAsNonRoot ?? pod.runAsNonRoot).toBe(true);
    expect(c.runAsUser ?? pod.runAsUser).toBe(1000);
    expect(c.readOnlyRootFilesystem).toBe(true);
    expect(c.allowPrivilegeEscalation).toBe(false);
    expect(c.capabilities.drop).toEqual(['ALL']);
    expect(c.capabilities.add).toBeUndefined();
    expect((c.seccompProfile ?? pod.seccompProfile).type).toBe('RuntimeDefault');
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(container.volumeMounts.some((m: Obj) => m.mountPath === '/tmp')).toBe(true);
  });

  it('give a terminating pod longer than the preStop pause plus limits.shutdown_timeout', () => {
    const preStop: string[] = container.lifecycle?.preStop?.exec?.command ?? [];
    const pauseSeconds = preStop[0] === 'sleep' ? Number(preStop[1]) : (container.lifecycle?.preStop?.sleep?.seconds ?? 0);
    const shutdownSeconds = k8sConfig.raw.limits.shutdown_timeout / 1000;
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(pauseSeconds + shutdownSeconds);
  });

  it('roll out without losing capacity and spread replicas over nodes', () => {
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(podSpec.topologySpreadConstraints?.length ?? podSpec.affinity?.podAntiAffinity).toBeTruthy();
    expect(container.resources.requests.cpu).toEqual(expect.any(String));
    expect(container.resources.limits.memory).toEqual(expect.any(String));
  });

  it('select the Deployment\'s pods from its own selector, the Service, the PodDisruptionBudget and the HPA', () => {
    const podLabels: Obj = deployment.spec.template.metadata.labels;
    const selects = (matchLabels: Obj) => Object.entries(matchLabels).every(([k, v]) => podLabels[k] === v);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);
    expect(selects(one('Service').spec.selector)).toBe(true);
    const pdb = one('PodDisruptionBudget');
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true);
    expect(pdb.spec.minAvailable === 2 || pdb.spec.maxUnavailable === 1).toBe(true);
    const hpa = one('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeLessThanOrEqual(deployment.spec.replicas);
    expect(hpa.spec.metrics.some((m: Obj) => m.resource?.name === 'cpu')).toBe(true);
    for (const c of podSpec.topologySpreadConstraints ?? []) expect(selects(c.labelSelector.matchLabels)).toBe(true);
  });

  it('name the Service ports https and metrics, pointing at the container ports of those names', () => {
    const ports: Obj[] = one('Service').spec.ports;
    const https = ports.find((p) => p.name === 'https');
    const metrics = ports.find((p) => p.name === 'metrics');
    expect(containerPort(https?.targetPort)).toBe(k8sConfig.raw.listen.address.port);
    expect(containerPort(metrics?.targetPort)).toBe(k8sConfig.raw.ops.address.port);
  });

  it('ship a Secret template with placeholders only, never a real-looking secret', () => {
    const text = readFileSync(join(k8sDir, 'secret.template.yaml'), 'utf8');
    expect(text).not.toMatch(/-----BEGIN/);
    const secrets = byKind('Secret');
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    for (const secret of secrets) {
      expect(secret.data, `${secret.metadata.name}: use stringData placeholders, not data`).toBeUndefined();
      for (const [key, value] of Object.entries(secret.stringData as Obj)) {
        expect(value, `${secret.metadata.name}.${key}`).toMatch(/^<[^<>]+>$/);
      }
    }
    // Secrets live only in the template: no other manifest defines one.
    expect(manifests.filter((m) => m.doc.kind === 'Secret').every((m) => m.file === 'secret.template.yaml')).toBe(true);
  });

  it('tie every manifest except the Secret template together in kustomization.yaml', () => {
    const kustomization = parse(readFileSync(join(k8sDir, 'kustomization.yaml'), 'utf8')) as Obj;
    const resources: string[] = kustomization.resources;
    for (const file of resources) expect(existsSync(join(k8sDir, file)), file).toBe(true);
    expect(resources).not.toContain('secret.template.yaml');
    const expected = manifestFiles.filter((f) => f !== 'kustomization.yaml' && f !== 'secret.template.yaml');
    expect([...resources].sort()).toEqual(expected.sort());
  });
});

describe('the compose setup', () => {
  const compose = readDocuments(composeFile)[0]!;
  const services: Record<string, Obj> = compose.services;
  const composeDir = dirname(composeFile);
  const portcullisServices = Object.entries(services).filter(([, s]) => Array.isArray(s.command) && s.command[0] === 'start');
  const first = portcullisServices[0]![1];
  const configMount = (first.volumes as string[]).map((v) => v.split(':')).find(([, target]) => target === posix.dirname(imageConfigPath))!;
  const composeConfigFile = join(composeDir, configMount[0]!, basename(imageConfigPath));
  const composeEnv = Object.fromEntries(Object.keys(first.environment as Obj).map((name) => [name, `placeholder-${name.toLowerCase()}-`.padEnd(40, 'x')]));
  const composeConfig = loadConfigText(readFileSync(composeConfigFile, 'utf8'), 'deploy/compose/portcullis.yaml', composeEnv);
  const idp = services.idp!;

  it('runs two Portcullis instances from the repository\'s Dockerfile, sharing sessions in Redis and one signing key', () => {
    expect(portcullisServices.length).toBe(2);
    expect(composeConfig.raw.session.store).toBe('redis');
    expect(composeConfig.raw.redis?.url).toMatch(/^redis:\/\/redis:/);
    expect(services.redis).toBeDefined();
    for (const [name, service] of portcullisServices) {
      const context = resolve(composeDir, service.build.context);
      expect(existsSync(join(context, service.build.dockerfile)), name).toBe(true);
      expect(existsSync(join(context, 'src', 'cli.ts')), name).toBe(true);
    }
    const keyMount = (first.volumes as string[]).find((v) => composeConfig.raw.identity.assertion.signing_keys.every((k) => k.startsWith(`${v.split(':')[1]}/`)));
    expect(keyMount, 'the signing key must be on a volume shared by both instances').toBeDefined();
  });

  it('references only files that exist: bind mounts, build contexts and entry points', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of (service.volumes ?? []) as string[]) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) expect(existsSync(resolve(composeDir, source)), `${name}: ${source}`).toBe(true);
      }
      if (service.build) expect(statSync(resolve(composeDir, service.build.context)).isDirectory(), name).toBe(true);
      const entry = (service.entrypoint ?? []) as string[];
      if (entry[0] === 'node' && entry[1]?.endsWith('.ts')) expect(existsSync(join(root, entry[1])), `${name}: ${entry[1]}`).toBe(true);
    }
    expect(existsSync(composeConfigFile)).toBe(true);
  });

  it('gives Portcullis the issuer the provider announces, and the provider the redirect URI Portcullis uses', () => {
    expect(composeConfig.raw.identity_provider?.issuer).toBe(idp.environment.DEMO_IDP_ISSUER);
    const result = demoServeSettings({ ...idp.environment, DEMO_CLIENT_SECRET: composeEnv.DEMO_CLIENT_SECRET });
    if ('problems' in result) throw new Error(result.problems.join('; '));
    expect(result.settings.issuer).toBe(composeConfig.raw.identity_provider?.issuer);
    expect(result.settings.client.client_id).toBe(composeConfig.raw.identity_provider?.client_id);
    expect(result.settings.client.redirect_uris).toContain(`${composeConfig.raw.public_url.replace(/\/$/, '')}/.portcullis/callback`);
    // The browser reaches the provider on the same port the issuer names.
    const issuerPort = new URL(composeConfig.raw.identity_provider!.issuer).port;
    expect((idp.ports as string[]).some((p) => p.endsWith(`:${issuerPort}:${issuerPort}`))).toBe(true);
  });

  it('routes to upstreams that exist on the compose network', () => {
    const names = new Set(Object.entries(services).flatMap(([name, s]) => [name, ...(s.networks?.demo?.aliases ?? [])]));
    for (const route of composeConfig.raw.routes) expect(names, route.name).toContain(new URL(route.to.origin).hostname);
    const appPort = Number(idp.environment.DEMO_APP_PORT);
    for (const route of composeConfig.raw.routes) expect(Number(new URL(route.to.origin).port)).toBe(appPort);
  });

  it('balances over both instances at their listen port, and trusts only that load balancer', () => {
    const nginx = readFileSync(join(composeDir, 'compose', 'nginx.conf'), 'utf8');
    const upstreams = [...nginx.matchAll(/^\s*server\s+([\w.-]+):(\d+);/gm)].map((m) => ({ host: m[1], port: Number(m[2]) }));
    expect(upstreams.map((u) => u.host).sort()).toEqual(portcullisServices.map(([name]) => name).sort());
    for (const u of upstreams) expect(u.port).toBe(composeConfig.raw.listen.address.port);
    const lbAddress: string = services.lb!.networks.demo.ipv4_address;
    expect(composeConfig.raw.trusted_proxies.map(([ip, bits]) => `${ip.toString()}/${bits}`)).toEqual([`${lbAddress}/32`]);
    expect(composeConfig.raw.ops.address.host).toBe('0.0.0.0');
  });
});

describe('the demo server settings', () => {
  it('refuse to start without a client secret, saying what to set', () => {
    const result = demoServeSettings({});
    expect('problems' in result && result.problems.join('\n')).toMatch(/DEMO_CLIENT_SECRET must be set/);
  });

  it('register a callback and a post-logout URI for every Portcullis public URL', () => {
    const result = demoServeSettings({ DEMO_CLIENT_SECRET: 's'.repeat(24), PORTCULLIS_PUBLIC_URLS: 'https://a.example/, https://b.example', DEMO_APP_PORT: 'off' });
    if ('problems' in result) throw new Error(result.problems.join('; '));
    expect(result.settings.client.redirect_uris).toEqual(['https://a.example/.portcullis/callback', 'https://b.example/.portcullis/callback']);
    expect(result.settings.client.post_logout_redirect_uris).toEqual(['https://a.example/.portcullis/signed-out', 'https://b.example/.portcullis/signed-out']);
    expect(result.settings.appPort).toBeUndefined();
    expect(result.settings.assertionIssuer).toBe('https://a.example');
  });

  it('report a bad port and a bad URL together', () => {
    const result = demoServeSettings({ DEMO_CLIENT_SECRET: 's'.repeat(24), DEMO_IDP_PORT: '99999', DEMO_IDP_ISSUER: 'idp:8092' });
    expect('problems' in result && result.problems.length).toBe(2);
  });
});
