// The deployment files: `kubectl kustomize` builds the base, every overlay and the sample app, and every object
// it prints validates against the Kubernetes OpenAPI schemas (kubernetes-models: the upstream schemas compiled
// to validators, shipped in the package). Then the properties the issue asks for, object by object: replicas,
// probes, resources, a non-root read-only container, RBAC limited to the Lease, the CA ConfigMap and
// TokenReviews, no secret in a node's pod (nodes present their projected service-account tokens). The Dockerfile is parsed and
// linted with dockerfile-utils, the VS Code Docker language service's parser, and checked where it matters.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DockerfileParser } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { needs, onPath } from '../../test/support/system.ts';

const execFileAsync = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const kube = join(root, 'deploy/kubernetes');

// biome-ignore lint/suspicious/noExplicitAny: manifests are read loosely, field by field.
type Json = any;

const builds = ['base', ...readdirSync(join(kube, 'overlays')).map((o) => `overlays/${o}`), 'sample-app'];

async function kustomize(dir: string): Promise<Json[]> {
  const { stdout } = await execFileAsync('kubectl', ['kustomize', join(kube, dir)], { maxBuffer: 16 << 20 });
  return parseAllDocuments(stdout).map((d) => d.toJSON());
}

/** The schema error for one object, or undefined when it validates. */
async function schemaError(obj: Json): Promise<string | undefined> {
  const models = (await import(`kubernetes-models/${obj.apiVersion}`)) as Record<
    string,
    new (
      data: Json,
    ) => { validate(): void }
  >;
  const Model = models[obj.kind];
  if (!Model) return `${obj.apiVersion} ${obj.kind} is not a Kubernetes kind`;
  try {
    new Model(obj).validate();
    return undefined;
  } catch (err) {
    return `${obj.kind}/${obj.metadata?.name}: ${(err as Error).message}`;
  }
}

function podSpecs(objects: Json[]): { name: string; spec: Json }[] {
  return objects
    .filter((o) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(o.kind))
    .map((o) => ({ name: `${o.kind}/${o.metadata.name}`, spec: o.spec.template.spec }));
}

// kubectl is not in Debian's archive in a version whose kustomize reads these files; CI's machine image has it.
describe.runIf(needs('kubectl', onPath('kubectl'), 'kubectl from the Kubernetes project'))(
  'kustomize builds',
  () => {
    it('kubectl is there to build them', () => {
      expect(() => execFileSync('kubectl', ['version', '--client'], { stdio: 'pipe' })).not.toThrow();
    });

    it('the validator refuses what the API server would', async () => {
      const bad = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'x' },
        spec: { replicas: 'two' },
      };
      expect(await schemaError(bad)).toMatch(/replicas|selector|template/);
      expect(await schemaError({ apiVersion: 'v1', kind: 'Pood', metadata: { name: 'x' } })).toContain(
        'not a Kubernetes kind',
      );
    });

    for (const dir of builds) {
      it(`${dir} builds and every object validates against the Kubernetes schemas`, async () => {
        const objects = await kustomize(dir);
        expect(objects.length).toBeGreaterThan(0);
        const errors = (await Promise.all(objects.map(schemaError))).filter(Boolean);
        expect(errors).toEqual([]);

        for (const { name, spec } of podSpecs(objects)) {
          expect(spec.securityContext?.runAsNonRoot, name).toBe(true);
          expect(spec.securityContext?.seccompProfile?.type, name).toBe('RuntimeDefault');
          for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
            const what = `${name} ${c.name}`;
            expect(c.resources?.requests, what).toBeDefined();
            expect(c.resources?.limits, what).toBeDefined();
            expect(c.readinessProbe, what).toBeDefined();
            expect(c.livenessProbe, what).toBeDefined();
            expect(c.securityContext, what).toMatchObject({
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            });
          }
        }
      });
    }

    it('the control plane: 2+ replicas electing a leader, probes on /healthz and /readyz, a PDB, a Service', async () => {
      for (const dir of builds.filter((b) => b !== 'sample-app')) {
        const objects = await kustomize(dir);
        const cp = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'roam-control-plane');
        expect(cp.spec.replicas, dir).toBeGreaterThanOrEqual(2);
        const [container] = cp.spec.template.spec.containers;
        expect(container.args).toContain('--leader-elect');
        expect(container.args).toContain('--kubernetes-auth');
        expect(container.readinessProbe.httpGet.path).toBe('/readyz');
        expect(container.livenessProbe.httpGet.path).toBe('/healthz');
        const pdb = objects.find(
          (o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === 'roam-control-plane',
        );
        expect(pdb.spec.minAvailable).toBeLessThan(cp.spec.replicas);
        const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === 'roam-control-plane');
        expect(svc.spec.ports.map((p: Json) => p.port).sort()).toEqual([443, 7900, 7950]);
        // Every port a Service targets by name is a port the selected pods declare.
        const named = new Set(container.ports.map((p: Json) => p.name));
        for (const p of svc.spec.ports) expect(named.has(p.targetPort), p.targetPort).toBe(true);
        // The webhook calls that Service, on the paths the control plane serves.
        const hook = objects.find((o) => o.kind === 'MutatingWebhookConfiguration');
        expect(hook.webhooks.map((w: Json) => w.clientConfig.service.path)).toEqual([
          '/inject/namespace',
          '/inject/workload',
        ]);
        expect(
          objects.some((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'default-deny-ingress'),
        ).toBe(true);
        const hosts = objects.find(
          (o) => ['Deployment', 'DaemonSet'].includes(o.kind) && o.metadata.name === 'roam-host',
        );
        expect(hosts, dir).toBeDefined();
      }
    });

    it('RBAC grants the control plane its Lease, the CA ConfigMap and TokenReviews, nothing else', async () => {
      const objects = await kustomize('base');
      const rules = objects
        .filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')
        .flatMap((r) =>
          r.rules.map((rule: Json) => ({
            kind: r.kind,
            what: `${rule.apiGroups.join()}/${rule.resources.join()}`,
            names: rule.resourceNames,
            verbs: rule.verbs,
          })),
        );
      // In any order: kustomize sorts objects its own way.
      expect(rules).toHaveLength(5);
      expect(rules).toEqual(
        expect.arrayContaining([
          {
            kind: 'Role',
            what: 'coordination.k8s.io/leases',
            names: ['roam-control-plane'],
            verbs: ['get', 'update'],
          },
          { kind: 'Role', what: 'coordination.k8s.io/leases', names: undefined, verbs: ['create'] },
          { kind: 'Role', what: '/configmaps', names: ['roam-ca'], verbs: ['get', 'update'] },
          { kind: 'Role', what: '/configmaps', names: undefined, verbs: ['create'] },
          {
            kind: 'ClusterRole',
            what: 'authentication.k8s.io/tokenreviews',
            names: undefined,
            verbs: ['create'],
          },
        ]),
      );
      const bindings = objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding');
      for (const b of bindings) {
        expect(b.subjects, b.metadata.name).toEqual([
          { kind: 'ServiceAccount', name: 'roam-control-plane', namespace: 'roam-system' },
        ]);
      }
      expect(bindings.map((b) => b.roleRef.name).sort()).toEqual([
        'roam-control-plane-ca',
        'roam-control-plane-leader-election',
        'roam-control-plane-token-review',
      ]);
    });

    it('hosts prove who they are with a projected service-account token: no secret, no roam token in their pods', async () => {
      for (const dir of builds) {
        const objects = await kustomize(dir);
        for (const { name, spec } of podSpecs(objects)) {
          for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
            const what = `${dir} ${name} ${c.name}`;
            expect(
              (c.env ?? []).map((e: Json) => e.name),
              what,
            ).not.toContain('ROAM_NODE_TOKEN');
            expect(JSON.stringify([c.command, c.args]), what).not.toMatch(/\btoken\b/);
          }
        }
        const hosts = podSpecs(objects).find((p) => p.name.endsWith('/roam-host'));
        if (!hosts) continue;
        const [host] = hosts.spec.containers;
        expect((host.env ?? []).map((e: Json) => e.name)).not.toContain('ROAM_SECRET');
        expect(host.args).toContain('--id=$(POD_NAME)');
        const env = Object.fromEntries(host.env.map((e: Json) => [e.name, e.value]));
        expect(env.ROAM_NODE_TOKEN_FILE).toBe('/var/run/secrets/roam/token');
        expect(env.ROAM_CA).toBe('/var/run/secrets/roam/ca.pem');
        const mount = host.volumeMounts.find((m: Json) => m.mountPath === '/var/run/secrets/roam');
        const volume = hosts.spec.volumes.find((v: Json) => v.name === mount.name);
        expect(volume.projected.sources, dir).toEqual([
          { serviceAccountToken: { audience: 'roam', expirationSeconds: 3600, path: 'token' } },
          { configMap: { name: 'roam-ca', items: [{ key: 'ca.pem', path: 'ca.pem' }] } },
        ]);
      }
    });

    it('the sample app lives in a namespace labelled for injection', async () => {
      const objects = await kustomize('sample-app');
      const ns = objects.find((o) => o.kind === 'Namespace');
      expect(ns.metadata.labels['roam.dev/inject']).toBe('enabled');
      expect(objects.every((o) => o.kind === 'Namespace' || o.metadata.namespace === ns.metadata.name)).toBe(
        true,
      );
    });
  },
);

describe('the container image', () => {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const instructions = DockerfileParser.parse(text).getInstructions();
  /** Instructions per stage, in order. */
  const stages: { keyword: string; args: string }[][] = [];
  for (const i of instructions) {
    if (i.getKeyword() === 'FROM') stages.push([]);
    stages.at(-1)?.push({ keyword: i.getKeyword(), args: i.getArgumentsContent() ?? '' });
  }
  const runtime = stages.at(-1) ?? [];

  it('parses and lints without errors', () => {
    expect(lintDockerfile(text).filter((d) => d.severity === 1)).toEqual([]);
  });

  it('builds in one stage and runs the roam entrypoint from a Node 24 slim base as a non-root user', () => {
    expect(stages.length).toBe(2);
    for (const s of stages) expect(s[0]!.args).toMatch(/^node:24-[a-z]+-slim\b/);
    const build = stages[0]!
      .filter((i) => i.keyword === 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(build).toContain('npm ci');
    expect(build).toContain('npm run build');
    expect(build).toContain('npm prune --omit=dev');
    const user = runtime.filter((i) => i.keyword === 'USER').at(-1)?.args ?? '';
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    expect(JSON.parse(runtime.find((i) => i.keyword === 'ENTRYPOINT')!.args)).toEqual([
      'node',
      '/app/build/js/bin/roam.js',
    ]);
  });

  it('copies folders that exist, and proxy-init is a valid shell script', () => {
    for (const i of runtime.filter((x) => x.keyword === 'COPY')) {
      // The arguments without flags: sources then destination; build-stage paths are the repo's under /app.
      const parts = i.args.split(/\s+/).filter((p) => p && !p.startsWith('--'));
      const sources = parts.slice(0, -1).map((p) => p.replace(/^\/app\//, ''));
      for (const src of sources) expect(existsSync(join(root, src)), src).toBe(true);
    }
    expect(() => execFileSync('sh', ['-n', join(root, 'deploy/image/proxy-init.sh')])).not.toThrow();
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['.git', 'node_modules', 'build']));
  });
});
