// page_plugins.js - the plugins folder as the host sees it (GET /v1/plugins): versions loaded,
// how many unfinished executions are pinned to each, load errors; and a reload button showing
// what the reload did to each file (POST /v1/plugins/reload). Below, the hosts serving the store
// (GET /v1/cluster): what the plugins run on, their workers and what runs on each.

import {get, post} from './api.js';
import {h, fill, stateBadge, table, errorBox, execLink, fnLink, timeEl, durationText} from './dom.js';

const HOSTS_POLL_MS = 2000;

export async function render(main, _params, page) {
  const list = h('div', {id: 'plugins'});
  const result = h('div', {id: 'reload-result'});
  const button = h('button', {type: 'button', class: 'primary', id: 'reload'}, 'Reload plugins');
  main.append(h('h1', {}, 'Plugins'),
    h('div', {class: 'actions'}, button, h('span', {class: 'muted small'}, 'Rescans the plugins folder; a changed file becomes current once it loads.')),
    result, h('h2', {}, 'Plugins folder'), list);
  const hosts = h('div', {id: 'hosts'});
  main.append(h('h2', {}, 'Hosts'), hosts);

  const draw = async () => {
    const plugins = await get('/v1/plugins');
    if (!page.alive()) return;
    fill(list, pluginsTable(plugins.data));
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    fill(result, h('p', {class: 'muted'}, 'Reloading…'));
    try {
      const doc = await post('/v1/plugins/reload');
      fill(result, h('h2', {}, 'What the reload did ', h('span', {class: 'muted small'}, `(${doc.errors} error${doc.errors === 1 ? '' : 's'})`)),
        table([
          {head: 'File', cell: (p) => h('span', {class: 'mono small'}, p.file)},
          {head: 'What happened', cell: (p) => stateBadge(p.state)},
          {head: 'Plugin', cell: (p) => (p.name ? `${p.name} ${p.version}` : '')},
          {head: 'Error', class: 'wrap', cell: (p) => p.error || ''},
        ], doc.data, 'The folder holds no plugin.'));
      await draw();
    } catch (e) {
      fill(result, errorBox(e));
    } finally {
      button.disabled = false;
    }
  });
  const drawHosts = async () => {
    const doc = await get('/v1/cluster');
    if (!page.alive()) return;
    fill(hosts, hostsTable(doc), runningTables(doc.hosts));
  };
  await Promise.all([draw().catch((e) => fill(list, errorBox(e))), drawHosts().catch((e) => fill(hosts, errorBox(e)))]);
  page.poll(HOSTS_POLL_MS, () => drawHosts().catch((e) => fill(hosts, errorBox(e))));
}

// Ages against the answering host's heartbeat (its clock took every time in the answer).
function hostsTable(doc) {
  const self = doc.hosts.find((x) => x.self);
  const now = self ? Date.parse(self.heartbeat_at) : Date.now();
  const age = (t) => (t ? durationText(Math.max(0, now - Date.parse(t))) : '—');
  return [h('p', {class: 'muted small'}, `Store: ${doc.store}`), table([
    {head: 'Host', cell: (x) => h('span', {class: 'mono host-id', 'data-host': x.id}, x.id, x.self ? h('span', {class: 'muted small'}, ' (this one)') : null)},
    {head: 'Hostname', cell: (x) => x.hostname || ''},
    {head: 'PID', class: 'num', cell: (x) => String(x.pid)},
    {head: 'Address', cell: (x) => h('span', {class: 'mono small'}, x.address || '')},
    {head: 'Up for', cell: (x) => h('span', {title: x.started_at}, age(x.started_at))},
    {head: 'Heartbeat', cell: (x) => (x.heartbeat_at ? timeEl(x.heartbeat_at) : '—')},
    {head: 'Workers', class: 'num', cell: (x) => String(x.workers)},
    {head: 'Busy', class: 'num', cell: (x) => h('span', {class: 'host-busy'}, String(x.busy))},
  ], doc.hosts, 'No host answered.')];
}

// What runs on each host that runs anything (the host lists at most 1000, oldest first).
function runningTables(list) {
  return list.filter((x) => x.running_count > 0).map((x) => [
    h('h3', {}, `Running on ${x.hostname || x.id} `, h('span', {class: 'muted small'}, `(${x.running_count})`)),
    table([
      {head: 'Execution', cell: (r) => execLink(r.id)},
      {head: 'Function', cell: (r) => fnLink(r.function)},
      {head: 'Attempt', class: 'num', cell: (r) => String(r.attempt)},
      {head: 'Started', cell: (r) => timeEl(r.started_at)},
      {head: 'Run time', class: 'num', cell: (r) => durationText(r.running_ms) + (r.stuck ? ' (stuck)' : '') + (r.abandoned ? ' (timed out)' : '')},
    ], x.running),
    x.running_count > x.running.length ? h('p', {class: 'muted small'}, `… and ${x.running_count - x.running.length} more`) : null,
  ]);
}

function pluginsTable(rows) {
  return table([
    {head: 'Plugin', cell: (p) => (p.name ? h('b', {}, p.name) : h('span', {class: 'muted'}, '—'))},
    {head: 'Version', cell: (p) => p.version || ''},
    {head: 'State', cell: (p) => stateBadge(p.state)},
    // The host counts them from its pins index (up to 100,000: then "at least").
    {head: 'Pinned to it', class: 'num', cell: (p) => (typeof p.pinned === 'number'
      ? h('span', {class: 'pinned', 'data-hash': p.hash}, `${p.pinned}${p.pinned_exact ? '' : '+'}`) : '')},
    {head: 'Functions', class: 'wrap', cell: (p) => (p.functions || []).join(', ')},
    {head: 'Hash', cell: (p) => h('span', {class: 'mono small'}, p.hash || '')},
    {head: 'File', cell: (p) => h('span', {class: 'mono small'}, p.file)},
    {head: 'Error', class: 'wrap', cell: (p) => (p.error ? h('span', {class: 'small'}, p.error) : '')},
  ], rows, 'No plugin files.');
}
