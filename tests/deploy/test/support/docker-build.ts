import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, join, posix, relative, sep } from 'node:path';
import {
  execForm,
  expand,
  parseAssignments,
  type Dockerfile,
  type Instruction,
  type Stage,
} from './dockerfile';
import { DockerIgnore } from './dockerignore';

/** What a build leaves: the final stage's file system and the image config that runs it. */
export interface BuiltImage {
  /** Host directory standing for the image's `/`. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  cmd: string[];
  healthcheck: string[];
  expose: string[];
  /** Every instruction executed, in order (for failure messages). */
  log: string[];
  /** Host directory of each built stage's `/`, by stage name. */
  stageRoots: Record<string, string>;
}

export interface BuildOptions {
  context: string;
  /** Empty directory that holds every stage's file system. */
  workDir: string;
  buildArgs: Record<string, string>;
  /**
   * `RUN npm install -g <pkg>@<version>`: the host provides the tool instead (this machine has
   * no registry access for global installs to speak of, and they would change it). Must check
   * the version and may put an executable in shimDir, which is first on PATH for RUN.
   */
  globalInstall(pkg: string, version: string, shimDir: string): void;
}

interface StageState {
  root: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  cmd: string[];
  healthcheck: string[];
  expose: string[];
}

const GLOBAL_INSTALL = /^npm install -g (@?[^@\s]+)@(\S+)$/;

function run(command: string, cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`RUN ${command} exited ${code}:\n${output}`));
    });
  });
}

const abs = (root: string, workdir: string, path: string) =>
  path.startsWith('/') ? join(root, path) : join(root, workdir, path);

/**
 * Executes a multi-stage Dockerfile's instructions on the host, each stage in its own directory
 * standing for its `/`: FROM, ARG, ENV, WORKDIR, COPY (context filtered by .dockerignore, or
 * --from a stage), RUN (through /bin/sh, RUN flags such as --mount ignored), and records USER,
 * CMD, HEALTHCHECK and EXPOSE. Only the stages the final one needs are built, as BuildKit does.
 */
export async function buildWithoutDocker(
  file: Dockerfile,
  options: BuildOptions,
): Promise<BuiltImage> {
  const ignore = DockerIgnore.read(options.context);
  const shimDir = join(options.workDir, 'shim-bin');
  mkdirSync(shimDir, { recursive: true });
  const globals: Record<string, string> = {};
  for (const ins of file.globalArgs) {
    for (const [name, def] of parseAssignments(ins.args)) {
      globals[name] = options.buildArgs[name] ?? def ?? '';
    }
  }
  const stageName = (stage: Stage, i: number) => stage.name ?? String(i);
  const byName = new Map(file.stages.map((s, i) => [stageName(s, i), s]));
  const needed = new Set<string>();
  const need = (stage: Stage, i: number) => {
    const name = stageName(stage, i);
    if (needed.has(name)) return;
    needed.add(name);
    const refs = [
      expand(stage.from, globals),
      ...stage.instructions.filter((x) => x.flags.from).map((x) => x.flags.from!),
    ];
    for (const ref of refs) {
      const dep = byName.get(ref);
      if (dep) need(dep, file.stages.indexOf(dep));
    }
  };
  need(file.stages[file.stages.length - 1]!, file.stages.length - 1);

  const states = new Map<string, StageState>();
  const log: string[] = [];
  let last: StageState | undefined;
  for (const [i, stage] of file.stages.entries()) {
    const name = stageName(stage, i);
    if (!needed.has(name)) continue;
    const from = expand(stage.from, globals);
    const parent = states.get(from);
    const changesFiles = stage.instructions.some(
      (x) => x.keyword === 'RUN' || x.keyword === 'COPY',
    );
    let root = parent?.root ?? join(options.workDir, `stage-${i}-${name}`);
    if (!parent || changesFiles) {
      root = join(options.workDir, `stage-${i}-${name}`);
      mkdirSync(root, { recursive: true });
      if (parent) cpSync(parent.root, root, { recursive: true, verbatimSymlinks: true });
    }
    const state: StageState = {
      root,
      workdir: parent?.workdir ?? '/',
      env: { ...parent?.env },
      user: parent?.user,
      cmd: parent?.cmd ?? [],
      healthcheck: parent?.healthcheck ?? [],
      expose: [...(parent?.expose ?? [])],
    };
    const args: Record<string, string> = {};
    log.push(`FROM ${from} (${name})`);
    for (const ins of stage.instructions) {
      log.push(`${ins.keyword} ${ins.args}`);
      await execute(ins, state, args);
    }
    states.set(name, state);
    last = state;
  }
  return {
    ...last!,
    log,
    stageRoots: Object.fromEntries([...states].map(([n, st]) => [n, st.root])),
  };

  async function execute(ins: Instruction, state: StageState, args: Record<string, string>) {
    const vars = { ...args, ...state.env };
    switch (ins.keyword) {
      case 'ARG':
        for (const [name, def] of parseAssignments(ins.args)) {
          args[name] = options.buildArgs[name] ?? def ?? globals[name] ?? '';
        }
        return;
      case 'ENV':
        for (const [name, value] of parseAssignments(ins.args)) {
          state.env[name] = expand(value ?? '', vars);
        }
        return;
      case 'WORKDIR': {
        const dir = expand(ins.args, vars);
        state.workdir = dir.startsWith('/') ? dir : posix.join(state.workdir, dir);
        mkdirSync(join(state.root, state.workdir), { recursive: true });
        return;
      }
      case 'COPY': {
        const parts = ins.args.split(/\s+/).map((p) => expand(p, vars));
        const dest = parts.pop()!;
        const source = ins.flags.from ? states.get(ins.flags.from) : undefined;
        if (ins.flags.from && !source)
          throw new Error(`COPY --from=${ins.flags.from}: no such stage`);
        for (const src of parts) {
          const from = source ? join(source.root, src) : join(options.context, src);
          if (!source && ignore.ignores(relative(options.context, from).split(sep).join('/'))) {
            throw new Error(`COPY ${src}: excluded by .dockerignore`);
          }
          if (!existsSync(from)) throw new Error(`COPY ${src}: not found`);
          let to = abs(state.root, state.workdir, dest);
          if (!statSync(from).isDirectory() && (dest.endsWith('/') || parts.length > 1)) {
            to = join(to, basename(src));
          }
          cpSync(from, to, {
            recursive: true,
            verbatimSymlinks: true,
            filter: (path) =>
              source !== undefined ||
              !ignore.ignores(relative(options.context, path).split(sep).join('/')),
          });
        }
        return;
      }
      case 'RUN': {
        const command = ins.args;
        const global = GLOBAL_INSTALL.exec(expand(command, vars));
        if (global) {
          options.globalInstall(global[1]!, global[2]!, shimDir);
          return;
        }
        const env: Record<string, string> = {
          PATH: `${shimDir}:${process.env.PATH ?? ''}`,
          HOME: process.env.HOME ?? '/root',
          ...args,
          ...state.env,
        };
        await run(command, join(state.root, state.workdir), env);
        return;
      }
      case 'USER':
        state.user = expand(ins.args, vars);
        return;
      case 'CMD':
        state.cmd = execForm(ins.args);
        return;
      case 'HEALTHCHECK':
        state.healthcheck = execForm(ins.args);
        return;
      case 'EXPOSE':
        state.expose.push(...expand(ins.args, vars).split(/\s+/));
        return;
      case 'STOPSIGNAL':
      case 'LABEL':
        return;
      default:
        throw new Error(
          `Dockerfile line ${ins.line}: ${ins.keyword} is not supported by this test`,
        );
    }
  }
}
