/** A Dockerfile instruction after line continuations are joined and comments dropped. */
export interface Instruction {
  keyword: string;
  /** `--name=value` flags before the arguments (COPY --from, RUN --mount, HEALTHCHECK ...). */
  flags: Record<string, string>;
  /** The rest of the line, unexpanded. */
  args: string;
  line: number;
}

export interface Stage {
  /** The FROM argument, unexpanded (`${NODE_IMAGE}`, `service-${SERVICE}`). */
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM. */
  globalArgs: Instruction[];
  stages: Stage[];
}

function splitFlags(rest: string): { flags: Record<string, string>; args: string } {
  const flags: Record<string, string> = {};
  let args = rest;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(args);
    if (!m) break;
    flags[m[1]!] = m[2] ?? 'true';
    args = args.slice(m[0].length);
  }
  return { flags, args: args.trim() };
}

/** Parses the subset of Dockerfile syntax a multi-stage build uses. */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split('\n');
  const instructions: Instruction[] = [];
  let buffer = '';
  let start = 0;
  for (const [i, raw] of lines.entries()) {
    const trimmed = raw.trim();
    if (buffer === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    // Docker drops comment lines inside a continued instruction too.
    if (buffer !== '' && trimmed.startsWith('#')) continue;
    if (buffer === '') start = i + 1;
    if (trimmed.endsWith('\\')) {
      buffer += `${trimmed.slice(0, -1)} `;
      continue;
    }
    buffer += trimmed;
    const m = /^([A-Za-z]+)\s+([\s\S]*)$/.exec(buffer);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot parse "${buffer}"`);
    const { flags, args } = splitFlags(m[2]!);
    instructions.push({ keyword: m[1]!.toUpperCase(), flags, args, line: start });
    buffer = '';
  }
  const result: Dockerfile = { globalArgs: [], stages: [] };
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile line ${ins.line}: bad FROM`);
      result.stages.push({ from: m[1]!, name: m[2], instructions: [] });
    } else if (result.stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`line ${ins.line}: ${ins.keyword} before FROM`);
      result.globalArgs.push(ins);
    } else {
      result.stages[result.stages.length - 1]!.instructions.push(ins);
    }
  }
  return result;
}

/** Expands `$NAME` and `${NAME}` the way Docker expands ARG/ENV in instructions. */
export function expand(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a, b) => {
    return vars[(a ?? b) as string] ?? '';
  });
}

/** `NAME=value` pairs of ENV and `NAME[=default]` of ARG. */
export function parseAssignments(args: string): [string, string | undefined][] {
  const pairs: [string, string | undefined][] = [];
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)(?:=("[^"]*"|'[^']*'|\S*))?/g)) {
    const value = m[2]?.replace(/^(["'])(.*)\1$/, '$2');
    pairs.push([m[1]!, value]);
  }
  return pairs;
}

/** The exec form `["node", "x.js"]` of CMD / HEALTHCHECK CMD. */
export function execForm(args: string): string[] {
  const json = args.replace(/^CMD\s+/, '');
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string')) {
    throw new Error(`not an exec form: ${args}`);
  }
  return parsed as string[];
}

export function stageNamed(file: Dockerfile, name: string): Stage {
  const stage = file.stages.find((s) => s.name === name);
  if (!stage) throw new Error(`no stage ${name}`);
  return stage;
}
