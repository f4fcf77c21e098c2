// page_executions.js - the executions list: a trigger form, counts per state, filters (kept in
// the URL's hash, so a filtered view can be bookmarked), pages by next_cursor, and the current
// page polled every 2 s while the tab is visible.

import {api, get, query} from './api.js';
import {showRetention} from './app.js';
import {h, fill, STATES, stateBadge, execLink, fnLink, timeEl, durationText, table, errorBox} from './dom.js';

const FILTERS = ['function', 'state', 'metadata', 'created_from', 'created_to', 'error_contains'];
const POLL_MS = 2000;

export async function render(main, _params, page) {
  const q = page.query;
  const filters = Object.fromEntries(FILTERS.map((k) => [k, q.get(k) || '']));
  const fnNames = await functionNames();
  const counts = h('div', {class: 'counts', id: 'counts'});
  const list = h('div', {id: 'list'});
  const pager = h('div', {class: 'pager'});
  const status = h('div');
  const cursors = [null]; // the cursor of each page seen; the last is the one shown

  main.append(
    h('h1', {}, 'Executions'),
    triggerForm(fnNames, filters.function, () => refresh()),
    counts, filterForm(fnNames, filters), status, list, pager);

  async function refresh() {
    const cursor = cursors[cursors.length - 1];
    const [page1, stats] = await Promise.all([
      get('/v1/executions' + query({...listParams(filters), limit: 50, cursor})),
      get('/v1/executions/stats' + query({function: filters.function.includes(',') ? '' : filters.function})).catch(() => null),
    ]).catch((e) => { fill(status, errorBox(e)); throw e; });
    if (!page.alive()) return;
    fill(status);
    showRetention(page1.retention);
    drawCounts(counts, stats, filters);
    fill(list, executionsTable(page1.data));
    fill(pager,
      h('button', {type: 'button', disabled: cursors.length === 1, onclick: () => { cursors.pop(); refresh(); }}, '← Newer'),
      h('span', {class: 'muted small'}, `page ${cursors.length}`),
      h('button', {type: 'button', disabled: !page1.next_cursor, id: 'older',
        onclick: () => { cursors.push(page1.next_cursor); refresh(); }}, 'Older →'));
  }

  await refresh().catch(() => {});
  page.poll(POLL_MS, refresh);
}

async function functionNames() {
  try {
    const doc = await get('/v1/functions');
    return doc.data.map((f) => f.name).sort();
  } catch {
    return [];
  }
}

// The filters as the list's query parameters (docs/API.md: GET /v1/executions).
function listParams(f) {
  const iso = (v) => (v ? new Date(v).toISOString() : '');
  return {
    function: f.function, state: f.state, metadata: f.metadata,
    created_from: iso(f.created_from), created_to: iso(f.created_to), error_contains: f.error_contains,
  };
}

function drawCounts(box, stats, filters) {
  if (!stats) { fill(box); return; }
  const chip = (state, n) => h('button', {
    type: 'button', class: filters.state === state ? 'current' : null, 'data-count': state,
    title: state ? `show only ${state}` : 'every state',
    onclick: () => setFilters({...filters, state: filters.state === state ? '' : state}),
  }, state ? stateBadge(state) : 'all', h('b', {}, String(n)));
  fill(box, chip('', stats.total + (stats.exact ? '' : '+')),
    STATES.map((s) => chip(s, (stats.counts[s] || 0) + (stats.exact || (stats.counts[s] || 0) < stats.count_max ? '' : '+'))));
}

function setFilters(f) {
  const p = new URLSearchParams();
  for (const k of FILTERS) if (f[k]) p.set(k, f[k]);
  const s = p.toString();
  location.hash = '#/executions' + (s ? '?' + s : '');
}

function filterForm(fnNames, f) {
  const input = (name, label, attrs = {}) => h('label', {class: attrs.wide ? 'wide' : null}, label,
    h('input', {name, value: f[name], ...attrs, wide: null}));
  const form = h('form', {class: 'filters row', id: 'filters'},
    h('label', {}, 'Function', h('select', {name: 'function'},
      h('option', {value: ''}, 'any'),
      fnNames.map((n) => h('option', {value: n, selected: n === f.function}, n)))),
    h('label', {}, 'State', h('select', {name: 'state'},
      h('option', {value: ''}, 'any'),
      STATES.map((s) => h('option', {value: s, selected: s === f.state}, s)))),
    input('metadata', 'Metadata KEY=VALUE', {placeholder: 'team=growth'}),
    input('created_from', 'Created from', {type: 'datetime-local', step: 1}),
    input('created_to', 'Created before', {type: 'datetime-local', step: 1}),
    input('error_contains', 'Error contains', {placeholder: 'text in the error', wide: true}),
    h('button', {type: 'submit'}, 'Filter'),
    h('button', {type: 'button', onclick: () => setFilters({})}, 'Clear'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    setFilters(Object.fromEntries(FILTERS.map((k) => [k, (data.get(k) || '').trim()])));
  });
  return form;
}

// Start an execution: POST /v1/functions/F/executions with the args as typed.
function triggerForm(fnNames, chosen, after) {
  const result = h('div', {id: 'trigger-result'});
  const fnSel = h('select', {name: 'function', id: 'trigger-function', required: true},
    fnNames.map((n) => h('option', {value: n, selected: n === chosen}, n)));
  const args = h('textarea', {name: 'args', id: 'trigger-args', rows: 2, spellcheck: 'false'}, '{}');
  const delay = h('input', {name: 'delay', id: 'trigger-delay', placeholder: 'now', size: 8});
  const form = h('form', {class: 'trigger panel', id: 'trigger'},
    h('div', {class: 'row'},
      h('label', {}, 'Function', fnSel),
      h('label', {class: 'args'}, 'Args (JSON)', args),
      h('label', {}, 'Delay', delay),
      h('button', {type: 'submit', class: 'primary'}, 'Trigger')),
    result);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = args.value.trim() || 'null';
    try {
      JSON.parse(text);
    } catch (e) {
      fill(result, errorBox('Args are not JSON: ' + e.message));
      return;
    }
    // The args go as typed (the host keeps them byte for byte); the rest is built here.
    let body = '{"args":' + text;
    if (delay.value.trim()) body += ',"delay":' + JSON.stringify(delay.value.trim());
    body += '}';
    try {
      const doc = await api('POST', '/v1/functions/' + encodeURIComponent(fnSel.value) + '/executions', body);
      fill(result, h('div', {class: 'notice'}, 'Started ', execLink(doc.id), ' (', doc.state, ')'));
      after();
    } catch (e) {
      fill(result, errorBox(e));
    }
  });
  return form;
}

export function executionsTable(rows) {
  return table([
    {head: 'Id', cell: (x) => execLink(x.id, x.id.slice(-8))},
    {head: 'Function', cell: (x) => fnLink(x.function)},
    {head: 'State', cell: (x) => [stateBadge(x.state), x.stuck ? h('span', {class: 'muted small'}, ' stuck') : null]},
    {head: 'Created', cell: (x) => timeEl(x.created_at)},
    {head: 'Took', class: 'num', cell: (x) => took(x)},
    {head: 'Attempts', class: 'num', cell: (x) => String(x.attempts)},
    {head: 'Error', class: 'wrap', cell: (x) => (x.error ? h('span', {class: 'small'}, x.error.length > 160 ? x.error.slice(0, 160) + '…' : x.error) : '')},
  ], rows, 'No executions match.');
}

function took(x) {
  if (x.started_at && x.finished_at) return durationText(Date.parse(x.finished_at) - Date.parse(x.started_at));
  if (x.state === 'running' && x.running_ms !== undefined) return durationText(x.running_ms) + '…';
  return '';
}
