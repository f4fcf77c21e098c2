// page_functions.js - the functions the host has loaded, with their options (retry,
// concurrency, max duration, cron and its next fire, retention), and one function's page:
// counts per state, success rate, and throughput and run time (p50/p95/p99) over the last
// hour or day, from GET /v1/functions/F/stats (counters the host keeps since it started; a
// function neither loaded nor counted has none, and the page says "no data").

import {get, query} from './api.js';
import {durations, throughput} from './charts.js';
import {h, fill, STATES, stateBadge, fnLink, timeEl, table, facts, errorBox} from './dom.js';
import {executionsTable} from './page_executions.js';

const POLL_MS = 5000;

export async function renderList(main, _params, page) {
  const box = h('div');
  main.append(h('h1', {}, 'Functions'), box);
  const draw = async () => {
    const doc = await get('/v1/functions');
    if (!page.alive()) return;
    fill(box, table([
      {head: 'Function', cell: (f) => fnLink(f.name)},
      {head: 'Plugin', cell: (f) => `${f.plugin.name} ${f.plugin.version}`},
      {head: 'Retry', cell: (f) => retryText(f.options.retry)},
      {head: 'Concurrency', cell: (f) => concurrencyText(f.options)},
      {head: 'Max duration', cell: (f) => f.options.max_duration || 'none'},
      {head: 'Cron', cell: (f) => (f.options.cron ? h('code', {}, f.options.cron) : '')},
      {head: 'Next fire', cell: (f) => (f.next_fire_at ? timeEl(f.next_fire_at) : '')},
      {head: 'Retention', cell: (f) => f.options.retention || ''},
    ], doc.data.slice().sort((a, b) => a.name.localeCompare(b.name)), 'No functions: no plugin is loaded.'));
  };
  await draw().catch((e) => fill(box, errorBox(e)));
  page.poll(POLL_MS, draw);
}

function retryText(r) {
  if (!r) return 'none';
  return `${r.max_attempts} attempts, ${r.initial_interval} ×${r.multiplier} up to ${r.max_interval}`;
}

function concurrencyText(o) {
  return o.concurrency === null || o.concurrency === undefined ? 'no limit' : `${o.concurrency} (${o.max_concurrency_action})`;
}

export async function renderOne(main, {name}, page) {
  const enc = encodeURIComponent(name);
  const all = await get('/v1/functions');
  const f = all.data.find((g) => g.name === name);
  const windowName = page.query.get('window') === '24h' ? '24h' : '1h';
  const counts = h('div', {class: 'counts'});
  const stats = h('div', {id: 'fn-stats'});
  const recent = h('div');

  main.append(h('h1', {}, name),
    f ? h('div', {class: 'panel'}, facts([
      ['Plugin', `${f.plugin.name} ${f.plugin.version} (${f.plugin.hash})`],
      ['Retry', retryText(f.options.retry)],
      ['Concurrency', concurrencyText(f.options)],
      ['Max duration', f.options.max_duration || 'none'],
      ['Cron', f.options.cron ? h('code', {}, f.options.cron) : 'none'],
      f.next_fire_at ? ['Next fire', timeEl(f.next_fire_at)] : null,
      f.options.retention ? ['Retention', f.options.retention] : null,
    ])) : h('div', {class: 'error'}, 'No loaded plugin exports this function now.'),
    h('h2', {}, 'Executions by state'), counts,
    h('h2', {}, 'Outcomes and run time ',
      ['1h', '24h'].map((w) => [' ', w === windowName ? h('b', {}, 'last ' + w)
        : h('a', {href: `#/functions/${enc}?window=${w}`}, 'last ' + w)])),
    stats,
    h('h2', {}, 'Recent executions ', h('a', {class: 'small', href: '#/executions' + query({function: name})}, 'all')), recent);

  let last = null;
  const drawStats = () => {
    if (!last) return;
    if (last instanceof Error) {
      delete stats.dataset.window;
      fill(stats, h('p', {class: 'muted'}, last.status === 404 ? 'No data: it is not loaded, and nothing of it was counted since the host started.'
        : 'No data: ' + last.message));
      return;
    }
    const t = last.totals;
    const rate = last.success_rate === null ? '—' : (last.success_rate * 100).toFixed(1) + ' %';
    const d = last.duration_ms;
    const tChart = h('div', {class: 'chart', id: 'chart-throughput'}), dChart = h('div', {class: 'chart', id: 'chart-durations'});
    stats.dataset.window = last.window;
    fill(stats,
      h('div', {class: 'grid'},
        h('div', {class: 'panel'}, facts(['started', 'succeeded', 'failed', 'cancelled', 'discarded', 'blocked', 'retries']
          .map((k) => [k[0].toUpperCase() + k.slice(1), h('span', {'data-total': k}, String(t[k]))]))),
        h('div', {class: 'panel'}, facts([
          ['Success rate', h('b', {id: 'success-rate'}, rate)],
          ['p50', d ? fmtMs(d.p50) : '—'], ['p95', d ? fmtMs(d.p95) : '—'], ['p99', d ? fmtMs(d.p99) : '—'],
          ['Buckets', `${last.buckets.length} × ${last.bucket_seconds} s`]]))),
      h('h3', {}, 'Finished per bucket'),
      h('div', {class: 'legend'}, h('span', {class: 'succeeded'}, 'succeeded'), h('span', {class: 'failed'}, 'failed'),
        h('span', {class: 'other'}, 'cancelled, discarded, blocked')),
      tChart,
      h('h3', {}, 'Run time'),
      h('div', {class: 'legend'}, ['p50', 'p95', 'p99'].map((p) => h('span', {class: p}, p))),
      dChart);
    throughput(tChart, last);
    durations(dChart, last);
  };

  const draw = async () => {
    const [c, s, r] = await Promise.all([
      get('/v1/executions/stats' + query({function: name})).catch((e) => e),
      get(`/v1/functions/${enc}/stats` + query({window: windowName})).catch((e) => e),
      get('/v1/executions' + query({function: name, limit: 10})).catch((e) => e),
    ]);
    if (!page.alive()) return;
    fill(counts, c instanceof Error ? errorBox(c) : STATES.map((st) => h('span', {class: 'small'}, stateBadge(st), ' ', String(c.counts[st] || 0), ' ')));
    last = s;
    drawStats();
    fill(recent, r instanceof Error ? errorBox(r) : executionsTable(r.data));
  };
  await draw();
  page.onResize(drawStats);
  page.poll(POLL_MS, draw);
}

function fmtMs(v) {
  if (v === null || v === undefined) return '—';
  return v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(2)} s`;
}
