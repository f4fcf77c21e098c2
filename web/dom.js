// dom.js - building the page: elements, times, durations, small tables. No innerHTML with data:
// every value goes in as text, so nothing an execution carries (args, errors, logs) can become markup.

// h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child...) -> element.
// Attributes named on* become listeners; null/undefined/false attributes and children are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// Replace everything in el by children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const FINAL = ['succeeded', 'failed', 'cancelled', 'discarded'];
export const STATES = ['scheduled', 'queued', 'running', 'waiting', 'blocked', ...FINAL];

export function stateBadge(state) {
  return h('span', {class: 'state ' + state, 'data-state': state}, state);
}

export function execLink(id, text) {
  return h('a', {href: '#/executions/' + encodeURIComponent(id), class: 'mono'}, text || id);
}

export function fnLink(name) {
  return h('a', {href: '#/functions/' + encodeURIComponent(name)}, name);
}

// "2026-11-28 10:00:00" in the browser's time zone, with the exact RFC 3339 time as a tooltip.
export function timeText(t) {
  if (!t) return '';
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function timeEl(t) {
  if (!t) return h('span', {class: 'muted'}, '—');
  return h('time', {datetime: t, title: t}, timeText(t));
}

// 1234 -> "1.23 s"; 90061000 -> "1d 1h 1m".
export function durationText(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return '—';
  if (ms < 1000) return Math.round(ms) + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  const s = Math.round(ms / 1000), d = Math.floor(s / 86400), hr = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d) return `${d}d ${hr}h ${m}m`;
  if (hr) return `${hr}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

export function json(v) {
  return h('pre', {}, v === undefined ? '' : JSON.stringify(v, null, 2));
}

// A table inside a sideways-scrolling box: columns [{head, cell(row) -> node|text, class}].
export function table(columns, rows, empty) {
  if (!rows.length) return h('p', {class: 'muted'}, empty || 'Nothing here.');
  return h('div', {class: 'scroll'},
    h('table', {},
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', {class: c.class}, c.head)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', {class: c.class}, c.cell(r))))))));
}

export function facts(pairs) {
  return h('dl', {class: 'facts'}, pairs.filter((p) => p).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function errorBox(err) {
  return h('div', {class: 'error', role: 'alert'}, err && err.message ? err.message : String(err));
}
