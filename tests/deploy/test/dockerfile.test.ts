import { existsSync, readFileSync } from 'node:fs';
import { DEFAULT_PORTS, SERVICES } from '@im-repo/config';
import { expect } from 'chai';
import {
  execForm,
  parseAssignments,
  parseDockerfile,
  stageNamed,
  type Instruction,
} from './support/dockerfile';
import { DockerIgnore } from './support/dockerignore';
import { readRepoFile, repoPath, ROOT } from './support/repo';

const file = parseDockerfile(readRepoFile('infra', 'Dockerfile'));
const runs = (stage: string) =>
  stageNamed(file, stage)
    .instructions.filter((i) => i.keyword === 'RUN')
    .map((i) => i.args);
const argDefault = (instructions: Instruction[], name: string) =>
  instructions
    .filter((i) => i.keyword === 'ARG')
    .flatMap((i) => parseAssignments(i.args))
    .find(([n]) => n === name)?.[1];

describe('infra/Dockerfile (static)', () => {
  it('needs no frontend image from a registry (no `# syntax=` line)', () => {
    expect(readRepoFile('infra', 'Dockerfile')).to.not.match(/^#\s*syntax\s*=/m);
  });

  it('takes SERVICE as a build arg without a default and ends in that service stage', () => {
    expect(file.globalArgs.map((a) => a.args)).to.include('SERVICE');
    expect(file.stages[file.stages.length - 1]!.from).to.equal('service-${SERVICE}');
  });

  it('refuses a SERVICE that is not one of the config schema services', () => {
    const check = runs('pruner').find((r) => r.startsWith('case "$SERVICE" in'));
    expect(check, 'the SERVICE check').to.be.a('string');
    const listed = /in (\S+)\)/.exec(check!)![1]!.split('|');
    expect(listed).to.deep.equal([...SERVICES]);
  });

  it('has a final stage per service exposing its gRPC and metrics ports (DEFAULT_PORTS)', () => {
    const serviceStages = file.stages.filter((s) => s.name?.startsWith('service-'));
    expect(serviceStages.map((s) => s.name)).to.deep.equal(SERVICES.map((s) => `service-${s}`));
    for (const name of SERVICES) {
      const stage = stageNamed(file, `service-${name}`);
      expect(stage.from).to.equal('runtime');
      const exposed = stage.instructions.filter((i) => i.keyword === 'EXPOSE').map((i) => i.args);
      expect(exposed).to.deep.equal([`${DEFAULT_PORTS[name].grpc} ${DEFAULT_PORTS[name].metrics}`]);
    }
  });

  it('pins the pnpm of package.json#packageManager and the turbo of the lockfile', () => {
    const pkg = JSON.parse(readRepoFile('package.json')) as { packageManager: string };
    const base = stageNamed(file, 'base');
    expect(`pnpm@${argDefault(base.instructions, 'PNPM_VERSION')}`).to.equal(pkg.packageManager);
    expect(runs('base')).to.include('npm install -g pnpm@${PNPM_VERSION}');
    const turbo = JSON.parse(
      readFileSync(repoPath('node_modules', 'turbo', 'package.json'), 'utf8'),
    ) as { version: string };
    expect(argDefault(stageNamed(file, 'pruner').instructions, 'TURBO_VERSION')).to.equal(
      turbo.version,
    );
    expect(readRepoFile('pnpm-lock.yaml')).to.include(`turbo@${turbo.version}`);
  });

  it('prunes with turbo --docker, installs frozen from the pruned json, builds with turbo, deploys --prod', () => {
    expect(runs('pruner')).to.include('turbo prune "@im-repo/${SERVICE}-service" --docker');
    const builder = stageNamed(file, 'builder').instructions;
    const order = builder.map(
      (i) => `${i.keyword} ${i.flags.from ? `--from=${i.flags.from} ` : ''}${i.args}`,
    );
    const index = (prefix: string) => {
      const i = order.findIndex((line) => line.startsWith(prefix));
      expect(i, prefix).to.be.greaterThan(-1);
      return i;
    };
    const json = index('COPY --from=pruner /repo/out/json/');
    const install = index('RUN pnpm install --frozen-lockfile');
    const full = index('COPY --from=pruner /repo/out/full/');
    const build = index('RUN pnpm exec turbo run build --filter="@im-repo/${SERVICE}-service"');
    const deploy = index('RUN pnpm --filter "@im-repo/${SERVICE}-service" deploy --prod ../app');
    expect([json, install, full, build, deploy]).to.deep.equal(
      [json, install, full, build, deploy].sort((a, b) => a - b),
    );
  });

  it('copies the root files that turbo prune leaves out but the build reads', () => {
    const copies = stageNamed(file, 'builder')
      .instructions.filter((i) => i.keyword === 'COPY' && !i.flags.from)
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(copies).to.include.members([
      'proto',
      'tsconfig.base.json',
      'tsconfig.models.json',
      'buf.yaml',
    ]);
    for (const path of copies) expect(existsSync(repoPath(path)), path).to.equal(true);
    // The reasons: packages/proto generates from ../../proto; every tsconfig extends the base
    // (the packages with table models through tsconfig.models.json).
    expect(readRepoFile('packages', 'proto', 'scripts', 'generate.mjs')).to.include(
      "'..', '..', 'proto'",
    );
    expect(readRepoFile('services', 'user', 'tsconfig.build.json')).to.include(
      '../../tsconfig.models.json',
    );
    expect(readRepoFile('tsconfig.models.json')).to.include('./tsconfig.base.json');
  });

  it('runs on the Node LTS (node:26-slim) as a numeric non-root user, with the gRPC health check and the services start command', () => {
    const runtime = stageNamed(file, 'runtime');
    expect(runtime.from).to.equal('${NODE_IMAGE}');
    expect(argDefault(file.globalArgs, 'NODE_IMAGE')).to.equal('node:26-slim');
    const ins = (k: string) => runtime.instructions.filter((i) => i.keyword === k);
    const [user] = ins('USER').map((i) => i.args);
    expect(user).to.match(/^\d+:\d+$/);
    expect(Number(user!.split(':')[0])).to.be.greaterThan(0);
    const [health] = ins('HEALTHCHECK');
    expect(execForm(health!.args)).to.deep.equal(['node', 'healthcheck.mjs']);
    expect(Object.keys(health!.flags)).to.include.members([
      'interval',
      'timeout',
      'start-period',
      'retries',
    ]);
    expect(ins('COPY').map((i) => i.args)).to.include('infra/healthcheck.mjs ./healthcheck.mjs');
    expect(existsSync(repoPath('infra', 'healthcheck.mjs'))).to.equal(true);
    const cmd = execForm(ins('CMD')[0]!.args);
    expect(cmd[0]).to.equal('node');
    expect(cmd.at(-1)).to.equal('dist/main.js');
    // Whatever the service's own start script is (heap cap included), the image runs the same.
    for (const name of SERVICES) {
      const pkgFile = repoPath('services', name, 'package.json');
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { scripts?: Record<string, string> };
      expect(pkg.scripts?.start?.split(' '), `${name} start script`).to.deep.equal(cmd);
    }
  });

  it('is what `make docker-build` builds, for the same services', () => {
    const makefile = readRepoFile('Makefile');
    // With BuildKit (RUN --mount), one image per service, tagged as compose and k8s expect.
    expect(makefile).to.include(
      'DOCKER_BUILDKIT=1 docker build -f infra/Dockerfile --build-arg SERVICE=$$s',
    );
    expect(makefile).to.include('-t im-repo/$$s-service:latest .');
    const listed = /^SERVICES := (.+)$/m.exec(makefile)![1]!.trim().split(/\s+/);
    expect(listed).to.deep.equal([...SERVICES]);
  });

  describe('.dockerignore', () => {
    const ignore = DockerIgnore.read(ROOT);

    it('keeps dependencies, build output, caches and git history out of the context', () => {
      for (const path of [
        'node_modules/turbo/package.json',
        'services/user/node_modules/x',
        'services/user/dist/main.js',
        'packages/config/dist/index.js',
        '.turbo/cache/x',
        'packages/db/.turbo/turbo-build.log',
        'services/user/coverage/lcov.info',
        '.git/HEAD',
        'packages/proto/src/gen/im/user/v1/user.ts',
        'packages/proto/protos/im/user/v1/user.proto',
      ]) {
        expect(ignore.ignores(path), path).to.equal(true);
      }
    });

    it('keeps everything the build needs', () => {
      for (const path of [
        'package.json',
        'pnpm-lock.yaml',
        'pnpm-workspace.yaml',
        'turbo.json',
        'tsconfig.base.json',
        'tsconfig.models.json',
        'buf.yaml',
        'proto/im/user/v1/user.proto',
        'packages/proto/scripts/generate.mjs',
        'packages/proto/src/index.ts',
        'services/user/src/main.ts',
        'infra/healthcheck.mjs',
      ]) {
        expect(ignore.ignores(path), path).to.equal(false);
      }
    });
  });
});
