// page_plugins.js - the plugins folder as the host sees it (GET /v1/plugins): versions loaded,
// how many unfinished executions are pinned to each, load errors; and a reload button showing
// what the reload did to each file (POST /v1/plugins/reload).

import {get, post} from './api.js';
import {h, fill, stateBadge, table, errorBox} from './dom.js';

export async function render(main, _params, page) {
  const list = h('div', {id: 'plugins'});
  const result = h('div', {id: 'reload-result'});
  const button = h('button', {type: 'button', class: 'primary', id: 'reload'}, 'Reload plugins');
  main.append(h('h1', {}, 'Plugins'),
    h('div', {class: 'actions'}, button, h('span', {class: 'muted small'}, 'Rescans the plugins folder; a changed file becomes current once it loads.')),
    result, h('h2', {}, 'Plugins folder'), list);

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
  await draw().catch((e) => fill(list, errorBox(e)));
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
