// app.js - the dashboard's entry: hash routing, the token box, the banner, and polling that
// runs only while the tab is visible. Each page module exports render(main, params, page) and
// registers what to stop when the user leaves it through page.onLeave(fn).
//
//   #/executions[?filters]    page_executions.js
//   #/executions/ID           page_execution.js
//   #/functions               page_functions.js (list)
//   #/functions/NAME          page_functions.js (one)
//   #/plugins                 page_plugins.js

import {setToken, setUnauthorizedHandler, token} from './api.js';
import {timeText} from './dom.js';
import * as executions from './page_executions.js';
import * as execution from './page_execution.js';
import * as functions from './page_functions.js';
import * as plugins from './page_plugins.js';

const routes = [
  [/^\/executions\/([^/]+)$/, (m) => [execution.render, {id: decodeURIComponent(m[1])}, 'executions']],
  [/^\/executions$/, () => [executions.render, {}, 'executions']],
  [/^\/functions\/([^/]+)$/, (m) => [functions.renderOne, {name: decodeURIComponent(m[1])}, 'functions']],
  [/^\/functions$/, () => [functions.renderList, {}, 'functions']],
  [/^\/plugins$/, () => [plugins.render, {}, 'plugins']],
];

let current = null; // the page shown: {leave: [fn], resize: [fn]}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/executions';
  const q = raw.indexOf('?');
  return {path: q < 0 ? raw : raw.slice(0, q), query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1))};
}

function leave() {
  if (!current) return;
  for (const fn of current.leave) fn();
  current = null;
  setLive(false);
}

export function route() {
  leave();
  const {path, query} = parseHash();
  const main = document.getElementById('main');
  let found = null;
  for (const [re, make] of routes) {
    const m = path.match(re);
    if (m) { found = make(m); break; }
  }
  for (const a of document.querySelectorAll('[data-nav]')) a.classList.toggle('current', !!found && a.dataset.nav === found[2]);
  if (!found) {
    main.replaceChildren(Object.assign(document.createElement('p'), {textContent: 'No such page: ' + path}));
    return;
  }
  const page = current = {leave: [], resize: [], query};
  page.onLeave = (fn) => page.leave.push(fn);
  page.onResize = (fn) => page.resize.push(fn);
  page.poll = (ms, fn) => poll(page, ms, fn);
  page.alive = () => current === page;
  main.replaceChildren();
  window.scrollTo(0, 0);
  found[0](main, found[1], page).catch((e) => {
    if (current === page) main.append(Object.assign(document.createElement('div'), {className: 'error', textContent: e.message}));
  });
}

// Run fn every `ms` while the page is shown and the tab visible; one call at a time.
function poll(page, ms, fn) {
  let timer = null, busy = false;
  const tick = async () => {
    timer = null;
    if (!page.alive()) return;
    if (document.visibilityState === 'visible' && !busy) {
      busy = true;
      try { await fn(); } catch (e) { /* the page shows its own errors; polling goes on */ }
      busy = false;
    }
    if (page.alive()) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  setLive(true);
  page.onLeave(() => { if (timer) clearTimeout(timer); });
}

function setLive(on) {
  document.getElementById('live').hidden = !on;
}

// Retention: the list answer says what was deleted; the banner says so on every page from then
// on. `default` is the host's --retention ("0": forever); a function may keep its own, so the
// banner links to the functions, where each one's retention shows.
export function showRetention(retention) {
  const banner = document.getElementById('banner');
  if (retention && retention.purged_before) {
    const kept = !retention.default || retention.default === '0' ? 'kept forever by default' : retention.default;
    const link = Object.assign(document.createElement('a'), {href: '#/functions', textContent: 'its own'});
    banner.replaceChildren(`Executions that finished before ${timeText(retention.purged_before)} ` +
      `were deleted (retention ${kept}; a function may set `, link, ').');
    banner.dataset.purgedBefore = retention.purged_before;
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

function askToken() {
  const box = document.getElementById('auth');
  if (!box.hidden) return;
  box.hidden = false;
  const input = document.getElementById('auth-token');
  input.value = '';
  if (token()) input.placeholder = 'the token given was refused';
  input.focus();
}

function boot() {
  setUnauthorizedHandler(askToken);
  document.getElementById('auth-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken(document.getElementById('auth-token').value.trim());
    document.getElementById('auth').hidden = true;
    route();
  });
  window.addEventListener('hashchange', route);
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (current) for (const fn of current.resize) fn(); }, 150);
  });
  route();
}

boot();
