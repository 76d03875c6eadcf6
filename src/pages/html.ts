// Small HTML building blocks. Every dynamic value goes through escapeHtml.
import { stylesheet } from './style.ts';

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A string of trusted markup, built only by the helpers in this file. */
export interface Html {
  readonly __html: string;
}

export function raw(markup: string): Html {
  return { __html: markup };
}

/** Tagged template: interpolated values are escaped unless they are Html. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) {
    out += renderValue(values[i]) + strings[i + 1]!;
  }
  return { __html: out };
}

function renderValue(v: unknown): string {
  if (v === undefined || v === null || v === false) return '';
  if (Array.isArray(v)) return v.map(renderValue).join('');
  if (typeof v === 'object' && '__html' in (v as object)) return (v as Html).__html;
  return escapeHtml(v);
}

const logo = raw(
  '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 3h18v3h-1v15h-3V6h-2v15h-3V6H10v15H7V6H4v15H3z"/></svg>',
);

export interface PageOptions {
  title: string;
  body: Html;
  wide?: boolean;
  footer?: Html;
}

export function renderPage({ title, body, wide, footer }: PageOptions): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${stylesheet}</style></head>
<body><main${wide ? ' class="wide"' : ''}><div class="brand">${logo.__html}Portcullis</div>
${body.__html}
</main>${footer ? `<footer>${footer.__html}</footer>` : ''}</body></html>`;
}
