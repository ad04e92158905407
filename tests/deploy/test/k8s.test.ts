import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { configKeys, DEFAULT_PORTS, loadConfig, SERVICES, type ServiceName } from '@im-repo/config';
import { expect } from 'chai';
import { parseDockerfile, stageNamed } from './support/dockerfile';
import {
  at,
  commandWorks,
  parseYaml,
  parseYamlDocuments,
  readRepoFile,
  repoPath,
  type Json,
} from './support/repo';

const BASE = repoPath('infra', 'k8s');
const WITHOUT_MYSQL: ServiceName[] = ['presence'];

type Validator = new (data: never) => { validate(): void };

/** kubernetes-models classes (JSON schemas of the Kubernetes API) for the kinds the base uses. */
async function validators(): Promise<Record<string, Validator>> {
  const [
    { Deployment },
    { StatefulSet },
    { Service },
    { ConfigMap },
    { Secret },
    { PodDisruptionBudget },
  ] = await Promise.all([
    import('kubernetes-models/apps/v1/Deployment'),
    import('kubernetes-models/apps/v1/StatefulSet'),
    import('kubernetes-models/v1/Service'),
    import('kubernetes-models/v1/ConfigMap'),
    import('kubernetes-models/v1/Secret'),
    import('kubernetes-models/policy/v1/PodDisruptionBudget'),
  ]);
  return {
    'apps/v1/Deployment': Deployment as unknown as Validator,
    'apps/v1/StatefulSet': StatefulSet as unknown as Validator,
    'v1/Service': Service as unknown as Validator,
    'v1/ConfigMap': ConfigMap as unknown as Validator,
    'v1/Secret': Secret as unknown as Validator,
    'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as Validator,
  };
}

const kubectl = commandWorks('kubectl', ['version', '--client']);

/** The base as kubectl would apply it; without kubectl, its resources read one by one. */
function render(): Json[] {
  if (kubectl) {
    const out = spawnSync('kubectl', ['kustomize', BASE], { encoding: 'utf8', timeout: 60_000 });
    if (out.status !== 0) throw new Error(`kubectl kustomize failed: ${out.stderr}`);
    return parseYamlDocuments(out.stdout);
  }
  const kustomization = parseYaml(readRepoFile('infra', 'k8s', 'kustomization.yaml')) as Json;
  return (kustomization.resources as string[]).flatMap((file) =>
    parseYamlDocuments(readRepoFile('infra', 'k8s', file)),
  );
}

const kindOf = (doc: Json) => `${String(doc.apiVersion)}/${String(doc.kind)}`;

describe(`infra/k8s kustomize base (${kubectl ? 'rendered by kubectl kustomize' : 'kubectl not found: resources parsed directly'})`, () => {
  const docs = render();
  const find = (kind: string, name: string) => {
    const doc = docs.find((d) => d.kind === kind && at(d, 'metadata', 'name') === name);
    if (!doc) throw new Error(`no ${kind} ${name}`);
    return doc;
  };
  const envNames = new Set(configKeys().map((k) => k.env));
  const configMap = () => find('ConfigMap', 'im-repo-config');

  it('lists every manifest of infra/k8s in kustomization.yaml', () => {
    const kustomization = parseYaml(readRepoFile('infra', 'k8s', 'kustomization.yaml')) as Json;
    const files = readdirSync(BASE).filter(
      (f) => f.endsWith('.yaml') && f !== 'kustomization.yaml',
    );
    expect([...(kustomization.resources as string[])].sort()).to.deep.equal(files.sort());
    for (const service of SERVICES) expect(files).to.include(`${service}.yaml`);
  });

  it('passes the Kubernetes API schemas (kubernetes-models), which reject a broken copy', async () => {
    const byKind = await validators();
    for (const doc of docs) {
      const Model = byKind[kindOf(doc)];
      expect(Model, `a schema for ${kindOf(doc)}`).to.be.a('function');
      const name = `${kindOf(doc)} ${String(at(doc, 'metadata', 'name'))}`;
      expect(() => new Model!(doc as never).validate(), name).not.to.throw();
    }
    const broken = structuredClone(find('Deployment', 'user-service'));
    at<Json[]>(broken, 'spec', 'template', 'spec', 'containers')[0]!.readinessProbe = {
      grpc: { port: 'grpc' },
    };
    expect(() => new byKind['apps/v1/Deployment']!(broken as never).validate()).to.throw(
      /grpc\/port/,
    );
  });

  it('has exactly a Deployment, a Service and a PodDisruptionBudget per service, a ConfigMap, a Secret and NATS', () => {
    const names = docs.map((d) => `${String(d.kind)}/${String(at(d, 'metadata', 'name'))}`).sort();
    const expected = [
      'ConfigMap/im-repo-config',
      'Secret/im-repo-db',
      'StatefulSet/nats',
      'Service/nats',
      ...SERVICES.flatMap((s) => [
        `Deployment/${s}-service`,
        `Service/${s}-service`,
        `PodDisruptionBudget/${s}-service`,
      ]),
    ].sort();
    expect(names).to.deep.equal(expected);
  });

  it('the ConfigMap holds only config schema env names, peers at their Services', () => {
    const data = at<Record<string, string>>(configMap(), 'data');
    expect(Object.keys(data).filter((k) => !envNames.has(k))).to.deep.equal([]);
    for (const service of SERVICES) {
      const env = `${service.toUpperCase()}_SERVICE_ADDR`;
      expect(data[env], env).to.equal(`dns:///${service}-service:${DEFAULT_PORTS[service].grpc}`);
    }
  });

  it('runs NATS with JetStream on a volume, at the address the ConfigMap gives the services', () => {
    const nats = find('StatefulSet', 'nats');
    const pod = at<Json>(nats, 'spec', 'template');
    const [container] = at<Json[]>(pod, 'spec', 'containers');
    const args = at<string[]>(container, 'args');
    expect(args).to.include('-js');
    const storeDir = args[args.indexOf('-sd') + 1];
    // The JetStream store is the claim's volume, so the stream outlives the pod.
    const mount = at<Json[]>(container, 'volumeMounts').find((m) => m.mountPath === storeDir);
    expect(mount, `a volume mounted at ${storeDir}`).to.not.equal(undefined);
    const claims = at<Json[]>(nats, 'spec', 'volumeClaimTemplates');
    expect(claims.map((c) => at(c, 'metadata', 'name'))).to.include(mount!.name);
    expect(at(container, 'readinessProbe', 'httpGet', 'path')).to.match(/js-enabled-only/);
    // The services reach it through its Service, at the ConfigMap's EVENTS_NATS_URL.
    const url = new URL(at<Record<string, string>>(configMap(), 'data').EVENTS_NATS_URL!);
    const svc = find('Service', url.hostname);
    const labels = at<Record<string, string>>(pod, 'metadata', 'labels');
    const selector = at<Record<string, string>>(svc, 'spec', 'selector');
    expect(Object.entries(selector).every(([k, v]) => labels[k] === v)).to.equal(true);
    const port = at<Json[]>(svc, 'spec', 'ports').find((p) => p.port === Number(url.port));
    expect(port, `a Service port ${url.port}`).to.not.equal(undefined);
    const target = at<Json[]>(container, 'ports').find((p) => p.name === port!.targetPort);
    expect(target?.containerPort).to.equal(4222);
    expect(at(nats, 'spec', 'serviceName')).to.equal(url.hostname);
  });

  for (const service of SERVICES) {
    describe(`${service}`, () => {
      const name = `${service}-service`;
      const ports = DEFAULT_PORTS[service];
      const deployment = () => find('Deployment', name);
      const pod = () => at<Json>(deployment(), 'spec', 'template');
      const container = () => {
        const containers = at<Json[]>(pod(), 'spec', 'containers');
        expect(containers).to.have.length(1);
        return containers[0]!;
      };
      const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
        Object.keys(selector).length > 0 &&
        Object.entries(selector).every(([k, v]) => labels[k] === v);

      it('selects its own pods from the Deployment, the Service and the PDB, and nobody else', () => {
        const labels = at<Record<string, string>>(pod(), 'metadata', 'labels');
        const selectors = [
          at<Record<string, string>>(deployment(), 'spec', 'selector', 'matchLabels'),
          at<Record<string, string>>(find('Service', name), 'spec', 'selector'),
          at<Record<string, string>>(
            find('PodDisruptionBudget', name),
            'spec',
            'selector',
            'matchLabels',
          ),
        ];
        for (const selector of selectors) expect(matches(selector, labels)).to.equal(true);
        for (const other of SERVICES.filter((s) => s !== service)) {
          const otherLabels = at<Record<string, string>>(
            find('Deployment', `${other}-service`),
            'spec',
            'template',
            'metadata',
            'labels',
          );
          for (const selector of selectors) expect(matches(selector, otherLabels)).to.equal(false);
        }
      });

      it('runs the image make docker-build tags, on the DEFAULT_PORTS, with matching env', () => {
        const c = container();
        expect(String(c.image)).to.match(new RegExp(`^im-repo/${name}(:|$)`));
        expect(c.ports).to.deep.equal([
          { name: 'grpc', containerPort: ports.grpc, protocol: 'TCP' },
          { name: 'metrics', containerPort: ports.metrics, protocol: 'TCP' },
        ]);
        const env = at<Json[]>(c, 'env');
        const value = (n: string) => env.find((e) => e.name === n)?.value;
        expect(value('SERVER_PORT')).to.equal(String(ports.grpc));
        expect(value('METRICS_PORT')).to.equal(String(ports.metrics));
        const annotations = at<Record<string, string>>(pod(), 'metadata', 'annotations');
        expect(annotations['prometheus.io/port']).to.equal(String(ports.metrics));
        expect(annotations['prometheus.io/path']).to.equal('/metrics');
      });

      it('takes env names from the config schema, the ConfigMap, and the DB password from the Secret', () => {
        const c = container();
        const env = at<Json[]>(c, 'env');
        expect(env.map((e) => e.name).filter((n) => !envNames.has(String(n)))).to.deep.equal([]);
        expect(c.envFrom).to.deep.equal([{ configMapRef: { name: 'im-repo-config' } }]);
        const password = env.find((e) => e.name === 'DB_PASSWORD');
        if (WITHOUT_MYSQL.includes(service)) {
          expect(password).to.equal(undefined);
        } else {
          const ref = at<{ name: string; key: string }>(password, 'valueFrom', 'secretKeyRef');
          const secret = find('Secret', ref.name);
          expect(at<Json>(secret, 'stringData')).to.have.property(ref.key);
        }
        // The whole environment is a configuration the service accepts.
        const vars: Record<string, string> = { ...at<Record<string, string>>(configMap(), 'data') };
        for (const e of env) if (typeof e.value === 'string') vars[String(e.name)] = e.value;
        const config = loadConfig(service, { env: vars, file: '' });
        expect(config.server.port).to.equal(ports.grpc);
        expect(config.peers.user).to.equal(`dns:///user-service:${DEFAULT_PORTS.user.grpc}`);
      });

      it('probes the gRPC port: start-up and readiness through grpc.health.v1, liveness by TCP', () => {
        const c = container();
        expect(at(c, 'startupProbe', 'grpc', 'port')).to.equal(ports.grpc);
        expect(at(c, 'readinessProbe', 'grpc', 'port')).to.equal(ports.grpc);
        // Health follows MySQL/Redis; liveness must not, or an outage restarts every pod.
        expect(at(c, 'livenessProbe', 'tcpSocket', 'port')).to.equal(ports.grpc);
        const svc = find('Service', name);
        // Headless, so a peer's dns:/// channel sees every pod and round_robin spreads calls.
        expect(at(svc, 'spec', 'clusterIP')).to.equal('None');
        expect(
          at<Json[]>(svc, 'spec', 'ports').map((p) => [p.name, p.port, p.targetPort]),
        ).to.deep.equal([
          ['grpc', ports.grpc, 'grpc'],
          ['metrics', ports.metrics, 'metrics'],
        ]);
      });

      it('requests and limits CPU and memory', () => {
        const resources = at<Json>(container(), 'resources');
        for (const kind of ['requests', 'limits']) {
          for (const res of ['cpu', 'memory']) {
            expect(at(resources, kind, res), `${kind}.${res}`).to.be.a('string');
          }
        }
      });

      it('runs as the image non-root user with no privilege escalation and a read-only root', () => {
        const user = stageNamed(
          parseDockerfile(readRepoFile('infra', 'Dockerfile')),
          'runtime',
        ).instructions.find((i) => i.keyword === 'USER')!.args;
        const [uid, gid] = user.split(':').map(Number);
        const podSecurity = at<Json>(pod(), 'spec', 'securityContext');
        expect(podSecurity).to.include({ runAsNonRoot: true, runAsUser: uid, runAsGroup: gid });
        const security = at<Json>(container(), 'securityContext');
        expect(security).to.deep.include({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
      });

      it('stops gracefully: the grace period covers preStop and the drain; the PDB leaves room to evict', () => {
        const grace = at<number>(pod(), 'spec', 'terminationGracePeriodSeconds');
        const preStop = at<string[]>(container(), 'lifecycle', 'preStop', 'exec', 'command');
        expect(preStop[0]).to.equal('sleep');
        const drainMs = loadConfig(service, { env: {}, file: '' }).server.shutdown_timeout_ms;
        expect(grace * 1000).to.be.greaterThan(Number(preStop[1]) * 1000 + drainMs);
        const replicas = at<number>(deployment(), 'spec', 'replicas');
        const minAvailable = at<number>(find('PodDisruptionBudget', name), 'spec', 'minAvailable');
        expect(minAvailable).to.be.greaterThan(0).and.lessThan(replicas);
        expect(at(deployment(), 'spec', 'strategy', 'rollingUpdate', 'maxUnavailable')).to.equal(0);
      });
    });
  }
});
