import { STORES, type Result } from './scenario';

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const us = (seconds: number, units: number) => String(Math.round((seconds / units) * 1e6));

/** The run as one Markdown table (paste-able into docs/benchmarks.md). */
export function printTable(
  results: Result[],
  machine: { cpu: string; cores: number; memoryGb: number; node: string; client: string },
): string {
  const ceiling = results.find((r) => r.scenario === 'ceiling');
  const header = [
    'scenario',
    'throughput',
    'x ceiling',
    'p50 ms',
    'p99 ms',
    'errors',
    'CPU us/unit',
    'x ceiling CPU',
    'services us',
    'MariaDB us',
    'Redis us',
    'NATS us',
    'client us',
    'peak RSS MB',
    'load avg',
    'targets',
  ];
  const rows = results.map((r) => {
    const services = Object.entries(r.peakRssMb)
      .filter(([label]) => !STORES.includes(label))
      .map(([label, mb]) => `${label} ${Math.round(mb)}`)
      .join(', ');
    const perService = Object.entries(r.cpuSeconds)
      .filter(([label]) => !STORES.includes(label))
      .map(([label, s]) => `${label} ${us(s, r.units)}`)
      .join(', ');
    const store = (label: string) =>
      r.cpuSeconds[label] === undefined ? '-' : us(r.cpuSeconds[label], r.units);
    const marks = r.marks
      .map((m) => `${m.ok ? 'PASS' : 'SHORT'} ${m.target} (${m.actual})`)
      .join('; ');
    return [
      r.scenario,
      `${Math.round(r.throughput).toLocaleString('en-US')} ${r.unit === 'messages' ? 'msg' : 'ops'}/s`,
      ceiling ? (r.throughput / ceiling.throughput).toFixed(2) : '-',
      r.p50.toFixed(2),
      r.p99.toFixed(2),
      String(r.errors),
      String(Math.round(r.cpuUsPerUnit)),
      ceiling ? (r.cpuUsPerUnit / ceiling.cpuUsPerUnit).toFixed(2) : '-',
      perService || '-',
      store('mariadbd'),
      store('redis-server'),
      store('nats-server'),
      r.clientCpuUsPerUnit === undefined ? '-' : String(Math.round(r.clientCpuUsPerUnit)),
      services || '-',
      r.loadAverage ? r.loadAverage.map((l) => l.toFixed(1)).join('-') : '-',
      marks || (r.notes ? '' : 'baseline'),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => pad(c, widths[i]!)).join(' | ')} |`;
  const out = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GiB, node ${machine.node}, load client ${machine.client}`,
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
