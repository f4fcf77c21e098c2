// page_execution.js - one execution: what it is (args, result or error, metadata, plugin),
// its journal as a timeline, its children's tree, its attempts, notifications and logs, and
// the buttons that change it (cancel, re-run, reschedule, upgrade), each confirmed first and
// showing the API's own message when it refuses. Polled every 2 s until it and its tree are final
// and no notification of it is pending.

import {get, post, patch} from './api.js';
import {timeline} from './charts.js';
import {confirmAction} from './dialog.js';
import {h, fill, FINAL, stateBadge, execLink, fnLink, timeEl, timeText, durationText, json, table, facts, errorBox} from './dom.js';
import {logsView} from './logs.js';

const POLL_MS = 2000;
const TREE_DEPTH = 3;  // levels of children fetched below the execution
const TREE_MAX = 40;   // executions fetched for the tree at most

export async function render(main, {id}, page) {
  const path = '/v1/executions/' + encodeURIComponent(id);
  let x = await get(path);
  let treeFinal = false;

  const head = h('div');
  const actionsMsg = h('div', {id: 'action-result'});
  const about = h('div');
  const chart = h('div', {class: 'chart', id: 'timeline'});
  const tree = h('div', {id: 'children'});
  const attempts = h('div', {id: 'attempts'});
  const notes = h('div', {id: 'notifications'});

  const buttons = actions(path, actionsMsg, () => refresh());
  main.append(head, buttons.el, actionsMsg, about,
    h('h2', {}, 'Timeline'),
    h('div', {class: 'legend'}, ['succeeded', 'failed', 'pending'].map((c) => h('span', {class: c}, c))),
    chart,
    h('h2', {}, 'Children'), tree,
    h('h2', {}, 'Attempts'), attempts,
    notes,
    h('h2', {}, 'Logs'), logsView(id, page, () => FINAL.includes(x.state)));

  const draw = () => {
    fill(head,
      h('h1', {}, fnLink(x.function), ' ', h('span', {class: 'muted mono small'}, x.id)),
      h('p', {id: 'exec-state'}, stateBadge(x.state), ' ', x.cancel_requested ? h('span', {class: 'muted'}, ' cancel requested') : null,
        x.parent_id ? [' · parent ', execLink(x.parent_id)] : null,
        x.rerun_of ? [' · re-run of ', execLink(x.rerun_of)] : null));
    fill(about, details(x));
    buttons.update(x);
    timeline(chart, x);
  };

  async function refresh() {
    const nx = await get(path);
    const [atts, kids] = await Promise.all([get(path + '/attempts').catch((e) => e), childTree(nx.children)]);
    if (!page.alive()) return;
    x = nx;
    draw();
    fill(attempts, atts instanceof Error ? errorBox(atts) : attemptsTable(atts.data));
    fill(tree, kids.nodes.length ? treeList(kids.nodes) : h('p', {class: 'muted'}, 'No children.'));
    treeFinal = kids.allFinal;
    if (Array.isArray(x.notifications)) fill(notes, h('h2', {}, 'Notifications'), notificationsTable(x.notifications));
  }

  draw();
  await refresh();
  page.onResize(draw);
  page.poll(POLL_MS, async () => {
    // Nothing will change any more once it, its tree and its notifications are settled.
    const sending = (x.notifications || []).some((n) => n.state === 'pending');
    if (FINAL.includes(x.state) && treeFinal && !sending) return;
    await refresh();
  });
}

function details(x) {
  const plugin = x.plugin ? `${x.plugin.name} ${x.plugin.version}` : 'none loaded exports it';
  return [
    h('div', {class: 'split'},
      h('div', {class: 'panel'}, facts([
        ['Plugin', plugin],
        ['Created', timeEl(x.created_at)],
        ['Scheduled', timeEl(x.scheduled_at)],
        ['Started', timeEl(x.started_at)],
        ['Finished', timeEl(x.finished_at)],
        x.started_at && x.finished_at ? ['Took', durationText(Date.parse(x.finished_at) - Date.parse(x.started_at))] : null,
        x.wake_at ? ['Wakes', timeEl(x.wake_at)] : null,
        x.next_attempt_at ? ['Next attempt', timeEl(x.next_attempt_at)] : null,
        ['Attempts', String(x.attempts) + (x.timeouts ? ` (${x.timeouts} timed out)` : '')],
        x.idempotency_key ? ['Idempotency key', x.idempotency_key] : null,
        x.discard_at ? ['Discard at', timeEl(x.discard_at)] : null,
        x.reruns && x.reruns.length ? ['Re-runs', x.reruns.map((r) => [execLink(r), ' '])] : null,
      ])),
      h('div', {class: 'panel'},
        h('h3', {}, 'Metadata'),
        Object.keys(x.metadata || {}).length ? facts(Object.entries(x.metadata)) : h('p', {class: 'muted small'}, 'none'))),
    h('div', {class: 'split'},
      h('div', {}, h('h3', {}, 'Args'), json(x.args)),
      h('div', {}, x.error ? [h('h3', {}, 'Error'), h('div', {class: 'error', id: 'exec-error'}, x.error)] : null,
        h('h3', {}, 'Result'), h('div', {id: 'exec-result'}, json(x.result)))),
  ];
}

// The buttons. Each asks first; the answer (or the API's refusal) goes to `msg`. A button
// that cannot apply to the execution as last read is disabled, its title saying why
// (docs/API.md: which states each route accepts); update(x) sets them after every read.
function actions(path, msg, after) {
  const delay = h('input', {id: 'reschedule-in', placeholder: 'now, or 10m', size: 10, 'aria-label': 'reschedule in'});
  const act = (label, cls, hint, ask, run) => h('button', {
    type: 'button', class: cls, 'data-action': label.toLowerCase(), title: hint,
    onclick: async () => {
      if (!(await confirmAction(ask()))) return;
      try {
        fill(msg, h('div', {class: 'notice'}, await run()));
        after();
      } catch (e) {
        fill(msg, errorBox(e));
      }
    },
  }, label);
  const cancel = act('Cancel', 'danger', 'Cancel it and every unfinished execution it started',
    () => ({title: 'Cancel this execution?', yes: 'Cancel it',
      text: 'It stops, with every unfinished execution it started. A running attempt is asked to stop and its result is discarded.'}),
    async () => {
      const doc = await post(path + '/cancel');
      return doc.state === 'cancelled' ? 'Cancelled.' : 'Cancel requested: it stops when its attempt returns.';
    });
  const rerun = act('Re-run', null, 'Start a new execution of its function with the same args and metadata',
    () => ({title: 'Re-run this execution?', yes: 'Re-run',
      text: 'A new execution of the same function starts now, with the same args and metadata.'}),
    async () => {
      const doc = await post(path + '/rerun');
      return ['Started the re-run ', execLink(doc.id), '.'];
    });
  const reschedule = act('Reschedule', null, 'Move its pending timer (delayed start or sleep)',
    () => ({title: 'Reschedule?', yes: 'Reschedule',
      text: delay.value.trim() ? `Its pending timer (delayed start or sleep) fires in ${delay.value.trim()}.`
        : 'Its pending timer (delayed start or sleep) fires now.'}),
    async () => {
      const d = delay.value.trim();
      const doc = await patch(path + '/schedule', d && d !== 'now' ? {in: d} : {});
      return `Rescheduled: ${doc.wake_at ? 'wakes ' + timeText(doc.wake_at) : 'due ' + timeText(doc.scheduled_at)} (${doc.state}).`;
    });
  const upgrade = act('Upgrade', null, 'Move it to the current version of its plugin',
    () => ({title: 'Upgrade to the current version?', yes: 'Upgrade',
      text: 'Its next replay runs the current version of its plugin against its journal.'}),
    async () => {
      const doc = await post(path + '/upgrade');
      return `Upgraded to ${doc.plugin ? doc.plugin.name + ' ' + doc.plugin.version : 'the current version'}.`;
    });
  const why = h('span', {class: 'muted small', id: 'actions-why'});
  const hints = new Map([cancel, rerun, reschedule, upgrade].map((b) => [b, b.title]));
  // Enabled with its own hint, or disabled with the reason (null: enabled).
  const set = (button, reason) => {
    button.disabled = !!reason;
    button.title = reason ? `Not now: ${reason}` : hints.get(button);
    return reason;
  };
  const update = (x) => {
    const st = x.state, final = FINAL.includes(st);
    set(cancel, final ? `it is ${st} already` : x.cancel_requested ? 'a cancel was requested; it stops when its attempt returns' : null);
    set(reschedule, st === 'scheduled' || (st === 'waiting' && x.wake_at) ? null
      : 'it has no pending timer (it is neither scheduled nor in a durable sleep)');
    set(upgrade, ['waiting', 'queued', 'scheduled', 'blocked'].includes(st) ? null
      : `it is ${st} (only a waiting, queued, scheduled or blocked execution moves to another version)`);
    delay.disabled = reschedule.disabled;
    // Said on the page too, in short (a phone has no hover): the titles say why.
    const off = [cancel, reschedule, upgrade].filter((b) => b.disabled).map((b) => b.textContent);
    fill(why, final ? `It is ${st}: it can only be re-run.` : off.length ? `${off.join(', ')}: not now (hover for why).` : null);
  };
  return {el: h('div', {class: 'actions', id: 'actions'}, cancel, rerun, reschedule, delay, upgrade, why), update};
}

// The children, their children... (breadth-first, at most TREE_DEPTH levels and TREE_MAX executions).
async function childTree(ids) {
  let count = 0, allFinal = true;
  async function level(list, depth) {
    const take = list.slice(0, Math.max(0, TREE_MAX - count));
    count += take.length;
    const got = await Promise.all(take.map((id) => get('/v1/executions/' + encodeURIComponent(id)).catch(() => ({id, missing: true}))));
    for (const c of got) {
      if (!c.missing && !FINAL.includes(c.state)) allFinal = false;
      c.kids = !c.missing && depth < TREE_DEPTH && c.children.length ? await level(c.children, depth + 1) : [];
      c.more = c.missing ? 0 : c.children.length - c.kids.length;
    }
    return got;
  }
  const nodes = await level(ids || [], 1);
  return {nodes, allFinal};
}

function treeList(nodes, root = true) {
  return h('ul', {class: 'tree' + (root ? ' root' : '')}, nodes.map((c) => h('li', {'data-child': c.id},
    c.missing ? [execLink(c.id), h('span', {class: 'muted'}, ' (not found: deleted?)')]
      : [stateBadge(c.state), ' ', fnLink(c.function), ' ', execLink(c.id, c.id.slice(-8)),
        c.finished_at && c.started_at ? h('span', {class: 'muted small'}, ' ' + durationText(Date.parse(c.finished_at) - Date.parse(c.started_at))) : null,
        c.error ? h('span', {class: 'muted small'}, ' — ' + c.error) : null],
    c.kids && c.kids.length ? treeList(c.kids, false) : null,
    c.more > 0 ? h('div', {class: 'muted small'}, `… ${c.more} more (open it)`) : null)));
}

function attemptsTable(rows) {
  return table([
    {head: '#', class: 'num', cell: (a) => String(a.number)},
    {head: 'Outcome', cell: (a) => stateBadge(a.outcome)},
    {head: 'Started', cell: (a) => timeEl(a.started_at)},
    {head: 'Took', class: 'num', cell: (a) => (a.finished_at ? durationText(Date.parse(a.finished_at) - Date.parse(a.started_at)) : '')},
    {head: 'Notes', cell: (a) => [a.crashed ? 'crashed ' : '', a.timed_out ? 'timed out ' : '', a.permanent ? 'permanent' : ''].join('')},
    {head: 'Error', class: 'wrap', cell: (a) => a.error || ''},
  ], rows, 'No attempt has ended yet.');
}

function notificationsTable(rows) {
  return table([
    {head: 'Webhook', class: 'wrap', cell: (n) => n.url},
    {head: 'State', cell: (n) => stateBadge(n.state)},
    {head: 'Attempts', class: 'num', cell: (n) => String(n.attempts)},
    {head: 'Delivered', cell: (n) => timeEl(n.delivered_at)},
    {head: 'Next try', cell: (n) => (n.state === 'pending' && n.next_attempt_at ? timeEl(n.next_attempt_at) : '')},
    {head: 'Last error', class: 'wrap', cell: (n) => n.last_error || ''},
  ], rows, 'No notification for this execution.');
}
