// Pure: the benchmark table as an SVG bar chart, two panels side by side (requests/s at
// the high connection count, and CPU microseconds per request), one bar per row. No
// external fonts, styles or scripts, so it renders the same on GitHub and offline.
import type { Row } from './report.ts';

export interface ChartText {
  readonly title: string;
  readonly subtitle: string;
}

const LABEL_WIDTH = 330;
const PANEL_WIDTH = 300;
const PANEL_GAP = 40;
const BAR_HEIGHT = 18;
const ROW_HEIGHT = 26;
const TOP = 78;
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

/** Reference rows in grey, nginx in green, Portcullis in blue: what to compare with at a glance. */
function colourOf(id: string): string {
  if (id === 'direct' || id === 'undici') return '#8a8f98';
  if (id.startsWith('nginx')) return '#3b8f4f';
  return '#2f6fb5';
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function panel(rows: readonly Row[], x: number, heading: string, value: (r: Row) => number, format: (v: number) => string): string {
  const max = Math.max(...rows.map(value), 1e-9);
  const bars = rows.map((r, i) => {
    const y = TOP + i * ROW_HEIGHT;
    const v = value(r);
    const w = Math.max(1, (v / max) * (PANEL_WIDTH - 70));
    return (
      `<rect x="${x}" y="${y}" width="${w.toFixed(1)}" height="${BAR_HEIGHT}" fill="${colourOf(r.id)}"/>` +
      `<text x="${(x + w + 6).toFixed(1)}" y="${y + 13}" font-size="12" ${FONT} fill="#222">${escape(format(v))}</text>`
    );
  });
  return `<text x="${x}" y="${TOP - 10}" font-size="13" font-weight="bold" ${FONT} fill="#222">${escape(heading)}</text>` + `<line x1="${x}" y1="${TOP - 4}" x2="${x}" y2="${TOP + rows.length * ROW_HEIGHT - 4}" stroke="#bbb"/>` + bars.join('');
}

export function renderChart(rows: readonly Row[], text: ChartText, highConnections = 64): string {
  const width = LABEL_WIDTH + 2 * PANEL_WIDTH + PANEL_GAP + 20;
  const height = TOP + rows.length * ROW_HEIGHT + 16;
  const labels = rows.map((r, i) => `<text x="${LABEL_WIDTH - 10}" y="${TOP + i * ROW_HEIGHT + 13}" font-size="12" ${FONT} text-anchor="end" fill="#222">${escape(r.label)}</text>`);
  const rpsX = LABEL_WIDTH;
  const cpuX = LABEL_WIDTH + PANEL_WIDTH + PANEL_GAP;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escape(text.title)}">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="22" font-size="16" font-weight="bold" ${FONT} fill="#222">${escape(text.title)}</text>
<text x="10" y="42" font-size="11" ${FONT} fill="#555">${escape(text.subtitle)}</text>
${labels.join('\n')}
${panel(rows, rpsX, `requests/s @${highConnections} connections (higher is better)`, (r) => r.median.rps, (v) => Math.round(v).toLocaleString('en-US'))}
${panel(rows, cpuX, 'proxy CPU µs per request (lower is better)', (r) => r.median.cpuUsPerRequest, (v) => v.toFixed(0))}
</svg>
`;
}
