// The one stylesheet of every page Portcullis shows. It is inlined, and the
// Content-Security-Policy allows exactly this text by its hash, so pages load
// nothing from anywhere and no injected style or script can run.
import { createHash } from 'node:crypto';

export const stylesheet = `
:root{color-scheme:light dark;--bg:#f5f6f8;--card:#fff;--text:#1c2330;--muted:#5b6575;--line:#dde1e8;--accent:#2f5bd3;--bad:#b42318;--good:#067647;--warn:#b54708}
@media (prefers-color-scheme:dark){:root{--bg:#0f1318;--card:#171c23;--text:#e6e9ef;--muted:#9aa3b2;--line:#2a313c;--accent:#7aa2ff;--bad:#ff8a80;--good:#6ee7a8;--warn:#fdb022}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;flex-direction:column;align-items:center;justify-content:center;padding:24px 16px;background:var(--bg);color:var(--text);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{width:100%;max-width:560px;background:var(--card);border:1px solid var(--line);border-radius:12px;padding:28px 28px 22px;box-shadow:0 1px 3px rgba(0,0,0,.06)}
main.wide{max-width:820px}
.brand{display:flex;align-items:center;gap:8px;font-weight:600;font-size:14px;letter-spacing:.02em;color:var(--muted);margin-bottom:18px}
.brand svg{width:20px;height:20px;fill:currentColor}
h1{font-size:22px;line-height:1.3;margin:0 0 10px}
h2{font-size:16px;margin:20px 0 6px}
p{margin:0 0 12px}
.status{display:inline-block;font-size:13px;font-weight:600;padding:2px 8px;border-radius:999px;margin-bottom:10px;background:var(--line);color:var(--muted)}
.status.bad{color:var(--bad)}.status.good{color:var(--good)}.status.warn{color:var(--warn)}
ul.reasons{padding-left:20px;margin:0 0 14px}ul.reasons li{margin:4px 0}
.ok{color:var(--good)}.fail{color:var(--bad)}
.meta{margin-top:18px;padding-top:12px;border-top:1px solid var(--line);font-size:13px;color:var(--muted);word-break:break-all}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
table{width:100%;border-collapse:collapse;font-size:14px;margin:8px 0 14px}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top;word-break:break-word}th{color:var(--muted);font-weight:600;width:38%}
.actions{display:flex;flex-wrap:wrap;gap:10px;margin-top:16px}
a.button,button{display:inline-block;font:inherit;font-weight:600;padding:9px 16px;border-radius:8px;border:1px solid var(--accent);background:var(--accent);color:#fff;text-decoration:none;cursor:pointer}
a.button.secondary,button.secondary{background:transparent;color:var(--accent)}
form{margin:0}label{display:block;font-weight:600;margin:10px 0 4px}input[type=text],input[type=password],select{width:100%;font:inherit;padding:9px 10px;border:1px solid var(--line);border-radius:8px;background:var(--bg);color:var(--text)}
.note{font-size:14px;color:var(--warn);border:1px solid var(--line);border-radius:8px;padding:8px 12px;margin:0 0 14px}
footer{margin-top:14px;font-size:12px;color:var(--muted)}
@media (max-width:480px){main{padding:20px 16px}h1{font-size:19px}}
`.trim();

export const stylesheetHash = `'sha256-${createHash('sha256').update(stylesheet).digest('base64')}'`;

/** Headers on every page Portcullis itself renders. */
export const pageSecurityHeaders: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': `default-src 'none'; style-src ${stylesheetHash}; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
});
