/**
 * The UI's one stylesheet, served as /ui/static/ui.css. It lives in a module (not a .css file) so
 * that it is compiled into dist/src/ with the rest and ships wherever the code does (npm package,
 * image), with no build step of its own. Light and dark follow the system; on a phone, tables
 * become one card per row.
 */
export const STYLESHEET = String.raw`:root {
  --bg: #f6f7f9;
  --panel: #ffffff;
  --text: #1b1f24;
  --muted: #57606a;
  --line: #d0d7de;
  --accent: #0b5cad;
  --accent-text: #ffffff;
  --danger: #b42318;
  --ok-bg: #e6f4ea;
  --ok-line: #1a7f37;
  --error-bg: #fdecea;
  --info-bg: #eef4fb;
  --code-bg: #eff2f5;
  --focus: #ffb000;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1216;
    --panel: #171b21;
    --text: #e6e9ed;
    --muted: #a0a9b4;
    --line: #323a45;
    --accent: #6cb0ff;
    --accent-text: #0f1216;
    --danger: #ff7b72;
    --ok-bg: #12261a;
    --ok-line: #3fb950;
    --error-bg: #2d1517;
    --info-bg: #132033;
    --code-bg: #222831;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0;
  background: var(--bg);
  color: var(--text);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
}
a { color: var(--accent); }
a:hover { text-decoration-thickness: 2px; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
code, pre { font-family: ui-monospace, SFMono-Regular, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.9em; }
code { background: var(--code-bg); padding: 0.1em 0.35em; border-radius: 4px; overflow-wrap: anywhere; }
.skip { position: absolute; left: -999px; top: 0.5rem; background: var(--panel); padding: 0.5rem 1rem; z-index: 10; }
.skip:focus { left: 0.5rem; }
.sr-only, .offscreen { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.offscreen { left: -9999px; }

.top {
  display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: center; justify-content: space-between;
  padding: 0.75rem 1.25rem; background: var(--panel); border-bottom: 1px solid var(--line);
}
.brand { font-weight: 700; font-size: 1.1rem; text-decoration: none; color: var(--text); }
.account { display: flex; flex-wrap: wrap; gap: 0.75rem; align-items: center; }
.who { color: var(--muted); }
main { max-width: 72rem; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
main:focus { outline: none; }
h1 { font-size: 1.6rem; margin: 0.5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.75rem; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 0.5rem; }
.muted { color: var(--muted); }
.lead { margin-top: -0.5rem; }

.crumbs ol { list-style: none; padding: 0; margin: 0 0 0.5rem; display: flex; flex-wrap: wrap; gap: 0.25rem; color: var(--muted); }
.crumbs li + li::before { content: "/"; margin-right: 0.25rem; color: var(--muted); }

button, .button {
  font: inherit; cursor: pointer; border-radius: 6px; border: 1px solid var(--accent);
  background: var(--accent); color: var(--accent-text); padding: 0.4rem 0.9rem; text-decoration: none; display: inline-block;
  min-height: 2.25rem;
}
button.link { background: none; border: none; color: var(--accent); padding: 0.25rem; text-decoration: underline; min-height: 0; }
button.copy { background: var(--panel); color: var(--accent); padding: 0.2rem 0.6rem; min-height: 2rem; margin-left: 0.5rem; }
button.copy.done { border-color: var(--ok-line); color: var(--ok-line); }
button.copy.done::after { content: " \2713"; }
button.copy.failed::after { content: " \2717"; }
button.danger { background: var(--panel); color: var(--danger); border-color: var(--danger); padding: 0.2rem 0.6rem; min-height: 2rem; margin-left: 0.5rem; }
form.inline { display: inline; }

input, textarea, select {
  font: inherit; color: var(--text); background: var(--panel); border: 1px solid var(--muted);
  border-radius: 6px; padding: 0.4rem 0.6rem; max-width: 100%;
}
.search { margin-bottom: 1rem; }
.search label { display: block; font-weight: 600; margin-bottom: 0.25rem; }
.search .row { display: flex; gap: 0.5rem; max-width: 36rem; }
.search input { flex: 1; min-width: 0; }
.stack { display: grid; gap: 0.4rem; max-width: 30rem; }
.stack label { font-weight: 600; margin-top: 0.5rem; }
.stack button { justify-self: start; margin-top: 0.75rem; }
.stack p { margin: 0; }
.stack fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 0.5rem 0 0; padding: 0.25rem 0.75rem 0.5rem; }
.stack legend { font-weight: 600; padding: 0 0.25rem; }
.stack label.check { font-weight: normal; display: flex; gap: 0.5rem; align-items: center; margin-top: 0.25rem; }
.plain { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.5rem; }
.signin { margin: 0.5rem 0 1.5rem; }
.prefixed { display: flex; align-items: center; gap: 0.25rem; }
.prefixed input { flex: 1; min-width: 0; }

.notice { padding: 0.6rem 0.9rem; border-radius: 6px; border-left: 4px solid var(--accent); background: var(--info-bg); }
.notice.ok { border-color: var(--ok-line); background: var(--ok-bg); }
.notice.error { border-color: var(--danger); background: var(--error-bg); }

.repositories { list-style: none; padding: 0; margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
.repositories li { border-top: 1px solid var(--line); }
.repositories li:first-child { border-top: none; }
.repositories a { display: block; padding: 0.6rem 1rem; overflow-wrap: anywhere; }
.paging { display: flex; gap: 1rem; margin-top: 1rem; }

.table-wrap { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; padding: 0.6rem 1rem; color: var(--muted); }
th, td { text-align: left; padding: 0.5rem 1rem; border-top: 1px solid var(--line); vertical-align: top; }
thead th { font-size: 0.85rem; color: var(--muted); font-weight: 600; }
td.actions { white-space: nowrap; }
tbody th { font-weight: 600; overflow-wrap: anywhere; }

.pairs { display: grid; gap: 0; margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
.pairs > div { display: grid; grid-template-columns: minmax(8rem, 14rem) 1fr; gap: 1rem; padding: 0.5rem 1rem; border-top: 1px solid var(--line); }
.pairs > div:first-child { border-top: none; }
.pairs dt { color: var(--muted); overflow-wrap: anywhere; }
.pairs dd { margin: 0; overflow-wrap: anywhere; }
.wrap { word-break: break-all; }

.commands { list-style: none; padding: 0; margin: 0; display: grid; gap: 0.5rem; }
.commands li { display: flex; align-items: center; justify-content: space-between; gap: 0.5rem; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 0.4rem 0.5rem 0.4rem 1rem; }
.commands code { background: none; padding: 0; }
.history { padding-left: 0; list-style: none; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; margin: 0; }
.history li { padding: 0.4rem 1rem; border-top: 1px solid var(--line); }
.history li:first-child { border-top: none; }
.history li.empty { color: var(--muted); }
.history .step { color: var(--muted); display: inline-block; min-width: 1.5rem; }
.referrers { padding-left: 1.25rem; }
.secret { border: 2px solid var(--ok-line); border-radius: 8px; padding: 0 1rem 0.5rem; background: var(--ok-bg); margin-bottom: 1.5rem; }
.secret-line { display: flex; align-items: center; flex-wrap: wrap; gap: 0.5rem; }
.secret-line code { font-size: 1rem; word-break: break-all; }

/* Phones: tables become one card per row, each cell labelled. */
@media (max-width: 40rem) {
  main { padding: 0.75rem 0.75rem 2rem; }
  h1 { font-size: 1.35rem; }
  thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table, caption, tbody, tr, th, td { display: block; width: 100%; }
  tbody tr { border-top: 1px solid var(--line); padding: 0.5rem 0; }
  tbody th, tbody td { border: none; padding: 0.15rem 1rem; }
  tbody td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); }
  td.actions { white-space: normal; padding-top: 0.4rem; }
  td.actions button.copy { margin-left: 0; }
  .pairs > div { grid-template-columns: 1fr; gap: 0; }
  .commands li { flex-direction: column; align-items: flex-start; }
  .commands button.copy { margin-left: 0; }
}
`;

export const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f4e79"/><path d="M8 11h16v3H8zm0 5h16v3H8zm0 5h10v3H8z" fill="#fff"/><circle cx="23" cy="22.5" r="2.5" fill="#7cc4ff"/></svg>`;
