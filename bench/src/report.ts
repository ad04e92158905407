import type { Result } from './scenario';

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/** The run as one Markdown table (paste-able into docs/benchmarks.md). */
export function printTable(
  results: Result[],
  machine: { cpu: string; cores: number; memoryGb: number; node: string },
): string {
  const header = [
    'scenario',
    'throughput',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'errors',
    'CPU us/unit',
    'peak RSS MB',
    'targets',
  ];
  const rows = results.map((r) => {
    const services = Object.entries(r.peakRssMb)
      .filter(([label]) => !['mariadbd', 'redis-server'].includes(label))
      .map(([label, mb]) => `${label} ${Math.round(mb)}`)
      .join(', ');
    const marks = r.marks
      .map((m) => `${m.ok ? 'PASS' : 'SHORT'} ${m.target} (${m.actual})`)
      .join('; ');
    return [
      r.scenario,
      `${Math.round(r.throughput).toLocaleString('en-US')} ${r.unit === 'messages' ? 'msg' : 'ops'}/s`,
      r.p50.toFixed(2),
      r.p95.toFixed(2),
      r.p99.toFixed(2),
      String(r.errors),
      String(Math.round(r.cpuUsPerUnit)),
      services || '-',
      marks || (r.notes ? '' : 'baseline'),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => pad(c, widths[i]!)).join(' | ')} |`;
  const out = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GiB, node ${machine.node}`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
  ];
  for (const r of results) {
    if (r.notes)
      out.push(
        '',
        `${r.scenario}: ${Object.entries(r.notes)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
    if (r.verified) out.push(`${r.scenario}: ${r.verified}`);
  }
  return `${out.join('\n')}\n`;
}
