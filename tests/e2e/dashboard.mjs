// dashboard.mjs - the dashboard in a real browser: Debian's Chromium, headless, driven by
// playwright-core (pinned in package-lock.json). Started by tests/e2e/run.py, which runs a real
// `tarry serve` with the example plugins, the e2e test plugin, a token and a webhook, and passes:
//
//   TARRY_URL        the host, http://127.0.0.1:PORT
//   TARRY_TOKEN      the token the page must ask for
//   TARRY_PLUGINS    the host's plugins folder (a broken file is dropped there before a reload)
//   TARRY_HOOK       the webhook receiver the host notifies (GET /received: what it got)
//   TARRY_ARTIFACTS  where the screenshots go
//   TARRY_CHROMIUM   the browser (default /usr/bin/chromium)
//
// What a user does, through the page only: give the token, trigger the onboarding workflow,
// watch it succeed, reschedule its day-long delayed child (a bad duration first: the page shows
// the API's refusal) to now, re-run the workflow, cancel the re-run's delayed child (then Cancel
// is disabled, saying why), follow a sleeping workflow's log over the server-sent-events stream
// across a reschedule until its `end`, see its failure notification delivered, see the banner
// once retention deleted an execution (e2e_brief keeps them 2 s), reload plugins (one of them
// broken), see this host's row in the Hosts table (GET /v1/cluster), open a function's charts
// for the last hour and day and check their numbers against GET /v1/functions/F/stats, at
// 1280x800 and at 390x844. Every console error, uncaught exception and Content-Security-Policy
// violation fails the test; an API refusal the page shows (a 401 before the token, the 400 of
// the bad duration) is the page working, and is allowed.

import {chromium} from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const URL_ = process.env.TARRY_URL;
const TOKEN = process.env.TARRY_TOKEN;
const PLUGINS = process.env.TARRY_PLUGINS;
const HOOK = process.env.TARRY_HOOK;
const ART = process.env.TARRY_ARTIFACTS;
const CHROMIUM = process.env.TARRY_CHROMIUM || '/usr/bin/chromium';
const T = 30000; // how long a state may take to show (polls every 2 s; ASan hosts are slow)
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ok = (what) => console.log('ok: ' + what);
const problems = []; // console errors, page errors, CSP violations: each fails the test
let styleViolationExpected = false; // set while the test breaks the policy on purpose

async function api(method, p, body) {
  const res = await fetch(URL_ + p, {method, headers: {Authorization: 'Bearer ' + TOKEN, ...(body ? {'Content-Type': 'application/json'} : {})},
    body: body ? JSON.stringify(body) : undefined});
  return {status: res.status, body: await res.json()};
}

async function openPage(browser, viewport, name) {
  const context = await browser.newContext({viewport, deviceScaleFactor: 1});
  const page = await context.newPage();
  // Counts violations the browser reports to the page (added by the driver: the CSP does not apply to it).
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error' && msg.type() !== 'warning') return;
    const where = msg.location().url || '';
    // A refused API call logs "Failed to load resource" for its status: the page shows those itself.
    if (msg.type() === 'error' && msg.text().startsWith('Failed to load resource') && new URL(where, URL_).pathname.startsWith('/v1/')) {
      console.log(`note (${name}): the API refused ${where}: ${msg.text()}`);
      return;
    }
    if (msg.type() === 'warning' && !/Content.Security.Policy|Refused/i.test(msg.text())) return;
    if (styleViolationExpected && /style-src/.test(msg.text())) return;
    problems.push(`${name} console ${msg.type()}: ${msg.text()} (${where})`);
  });
  page.on('pageerror', (err) => problems.push(`${name} uncaught: ${err.message}`));
  return {context, page};
}

async function shot(page, file) {
  const p = path.join(ART, file);
  await page.screenshot({path: p, fullPage: true});
  ok('screenshot ' + p);
}

async function giveToken(page) {
  await page.goto(URL_ + '/');
  await page.locator('#auth').waitFor({state: 'visible', timeout: T});
  ok('the page asks for a token (the host answered 401)');
  await page.fill('#auth-token', TOKEN);
  await page.click('#auth button[type=submit]');
  await page.locator('#auth').waitFor({state: 'hidden', timeout: T});
  await page.locator('#list table').waitFor({timeout: T}).catch(async () => page.locator('#list p').waitFor({timeout: T}));
}

async function confirm(page) {
  await page.locator('#confirm').waitFor({state: 'visible', timeout: T});
  await page.click('#confirm-yes');
  await page.locator('#confirm').waitFor({state: 'hidden', timeout: T});
}

async function waitState(page, state) {
  await page.locator(`#exec-state .state[data-state="${state}"]`).waitFor({timeout: T});
}

async function idFromLink(locator) {
  const href = await locator.getAttribute('href');
  return decodeURIComponent(href.replace('#/executions/', ''));
}

// A button that cannot apply now is disabled, and its title says why.
async function disabledWhy(page, action, why) {
  const b = page.locator(`button[data-action="${action}"]`);
  await page.waitForFunction((a) => document.querySelector(`button[data-action="${a}"]`).disabled, action, {timeout: T});
  const title = await b.getAttribute('title');
  assert.match(title, why);
  ok(`${action} is disabled: "${title}"`);
}

// A workflow that logs, sleeps an hour, logs again and fails for good (e2e_wait_fail), triggered
// from the page: its log is followed over the stream (never polled) while the page is open, the
// line written after the reschedule appears, the stream's `end` is shown, and the webhook's
// delivery is shown with its url cut before the query.
async function followAndNotify(page, requests) {
  await page.goto(`${URL_}/#/executions`);
  await page.locator('#trigger-function option[value="e2e_wait_fail"]').waitFor({state: 'attached', timeout: T});
  await page.selectOption('#trigger-function', 'e2e_wait_fail');
  await page.fill('#trigger-args', '{"sleep": "1h"}');
  await page.click('#trigger button[type=submit]');
  const link = page.locator('#trigger-result a');
  await link.waitFor({timeout: T});
  const id = await idFromLink(link);
  await link.click();
  await waitState(page, 'waiting');
  await page.locator('#logs[data-mode="follow"]').waitFor({timeout: T});
  await page.locator('#logs .line[data-seq]', {hasText: 'before the sleep'}).waitFor({timeout: T});
  const logsPath = `/v1/executions/${id}/logs`;
  const logReqs = () => requests.filter((u) => new URL(u).pathname === logsPath).map((u) => new URL(u).search);
  assert.equal(logReqs().filter((q) => q.includes('follow=1')).length, 1, logReqs().join(' '));
  ok(`the waiting workflow's log is followed over the stream: ${logReqs().join(' ')}`);

  // Wake it from the page: the lines it writes now arrive on the open stream.
  await page.click('button[data-action="reschedule"]');
  await confirm(page);
  await page.locator('#logs .line[data-seq]', {hasText: 'after the sleep'}).waitFor({timeout: T});
  await page.locator('#logs[data-mode="ended"][data-end="failed"]').waitFor({timeout: T});
  assert.match(await page.locator('#logs-status').innerText(), /ended \(failed\)/);
  const after = logReqs();
  const follows = after.filter((q) => q.includes('follow=1'));
  assert.equal(follows.length, 1, 'one stream, no reconnect: ' + after.join(' '));
  assert.equal(after.indexOf(follows[0]), after.length - 1, 'no page of the log was read after the stream began: ' + after.join(' '));
  assert.equal(await page.locator('#logs .line[data-seq]', {hasText: 'before the sleep'}).count(), 1);
  ok('the line written after the reschedule came over the same stream, then its end (failed)');

  await waitState(page, 'failed');
  const note = page.locator('#notifications tbody tr');
  await page.locator('#notifications .state[data-state="delivered"]').waitFor({timeout: T});
  const row = await note.innerText();
  assert.ok(row.includes(HOOK + '/hook'), row);
  assert.doesNotMatch(await page.locator('#main').innerText(), /secret/);
  const got = await (await fetch(HOOK + '/received')).json();
  const mine = got.filter((r) => r.body.tarry && r.body.tarry.id === id);
  assert.equal(mine.length, 1, JSON.stringify(got));
  assert.equal(mine[0].path, '/hook?secret=e2e-hook-secret');
  assert.equal(mine[0].body.tarry.url, `${URL_}/#/executions/${id}`);
  ok(`the failure notification shows as delivered to ${HOOK}/hook (query not shown); the receiver got it once`);
  await shot(page, 'execution-notified-1280.png');

  // The notification's link opens this page (loaded afresh: the tab keeps its token).
  await page.goto('about:blank');
  await page.goto(mine[0].body.tarry.url);
  await waitState(page, 'failed');
  await page.locator('#logs[data-mode="pages"] .line', {hasText: 'after the sleep'}).waitFor({timeout: T});
  ok('the notification\'s link opens the execution\'s page (its final log read in pages)');
}

// e2e_brief's execution is deleted 2 s after it ended: the list's banner says what was deleted.
async function retentionBanner(page, briefId) {
  await page.goto(`${URL_}/#/executions`);
  const banner = page.locator('#banner[data-purged-before]');
  await banner.waitFor({timeout: T});
  const text = await banner.innerText();
  assert.match(text, /^Executions that finished before .+ were deleted \(retention 30d; a function may set its own\)\.$/);
  const list = await api('GET', '/v1/executions?limit=1');
  assert.equal(await banner.getAttribute('data-purged-before'), list.body.retention.purged_before);
  const fns = await api('GET', '/v1/functions');
  assert.equal(fns.body.data.find((f) => f.name === 'e2e_brief').options.retention, '2s');
  assert.equal((await api('GET', '/v1/executions/' + briefId)).status, 404, 'retention deleted e2e_brief\'s execution');
  ok('the executions page shows the retention banner: ' + text);
  await shot(page, 'executions-retention-1280.png');
}

async function desktop(browser) {
  const {context, page} = await openPage(browser, {width: 1280, height: 800}, '1280x800');

  // The page and its headers.
  const res = await page.goto(URL_ + '/');
  assert.equal(res.headers()['content-security-policy'], CSP);
  assert.equal(res.headers()['x-content-type-options'], 'nosniff');
  ok('/ carries the Content-Security-Policy and nosniff');

  // Every request the page makes, to tell a followed log from a polled one.
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));

  // An execution retention deletes 2 s after it ends (e2e_brief's own retention): the list says so later.
  const brief = await api('POST', '/v1/functions/e2e_brief/executions', {args: {}});
  assert.equal(brief.status, 202, JSON.stringify(brief.body));

  await giveToken(page);
  ok('with the token the executions list shows');

  // Trigger the onboarding workflow from the form.
  await page.selectOption('#trigger-function', 'user_onboarding');
  await page.fill('#trigger-args', '{"user_id": 42, "email": "ann@example.com", "email_ms": 1500}');
  await page.click('#trigger button[type=submit]');
  const started = page.locator('#trigger-result a');
  await started.waitFor({timeout: T});
  const wf = await idFromLink(started);
  ok('triggered user_onboarding from the page: ' + wf);
  // The live list shows it without a reload.
  await page.locator(`#list a[href="#/executions/${wf}"]`).waitFor({timeout: T});
  ok('the list shows the new execution without a reload');
  await shot(page, 'executions-1280.png');

  // Its page: watch it succeed.
  await page.click(`#list a[href="#/executions/${wf}"]`);
  await waitState(page, 'succeeded');
  ok('the workflow reached succeeded on its page');
  const entries = page.locator('#timeline svg g.entry');
  await page.waitForFunction(() => document.querySelectorAll('#timeline svg g.entry').length >= 4, null, {timeout: T});
  const kinds = await entries.evaluateAll((gs) => gs.map((g) => `${g.dataset.kind}:${g.dataset.status}`));
  assert.deepEqual(kinds.slice(0, 4), ['call:succeeded', 'call:succeeded', 'step:succeeded', 'call:pending'], kinds.join(' '));
  assert.ok(await page.locator('#timeline rect.bar.pending').count() >= 1);
  ok('the timeline draws one bar per journal entry, the delayed call pending: ' + kinds.join(' '));
  await page.locator('#logs .line[data-seq]').first().waitFor({timeout: T});
  assert.match(await page.locator('#logs').innerText(), /mark_onboarded user=42/);
  ok('the logs show the workflow\'s lines');
  await page.locator('#children li[data-child]').nth(2).waitFor({timeout: T});
  assert.equal(await page.locator('#children li[data-child] .state[data-state="succeeded"]').count(), 2);
  assert.equal(await page.locator('#children li[data-child] .state[data-state="scheduled"]').count(), 1);
  ok('the children tree shows two succeeded children and the scheduled tutorial email');
  await page.locator('#attempts table').waitFor({timeout: T});
  await shot(page, 'execution-1280.png');

  // The day-long delayed child: reschedule it to now from its page, watch it succeed.
  await page.click('#children li[data-child]:has(.state[data-state="scheduled"]) a.mono');
  await waitState(page, 'scheduled');
  await page.fill('#reschedule-in', 'soonish');
  await page.click('button[data-action="reschedule"]');
  await confirm(page);
  await page.locator('#action-result .error').waitFor({timeout: T});
  assert.match(await page.locator('#action-result .error').innerText(), /soonish|duration/);
  ok('a bad duration shows the API\'s refusal: ' + (await page.locator('#action-result .error').innerText()));
  await page.fill('#reschedule-in', '');
  await page.click('button[data-action="reschedule"]');
  await confirm(page);
  await page.locator('#action-result .notice').waitFor({timeout: T});
  await waitState(page, 'succeeded');
  ok('rescheduled the delayed child to now from the page; it succeeded');
  await disabledWhy(page, 'cancel', /succeeded/);
  await disabledWhy(page, 'reschedule', /no pending timer/);

  // Re-run the workflow.
  await page.goto(`${URL_}/#/executions/${wf}`);
  await waitState(page, 'succeeded');
  await page.click('button[data-action="re-run"]');
  await confirm(page);
  const rerunLink = page.locator('#action-result .notice a');
  await rerunLink.waitFor({timeout: T});
  const rerun = await idFromLink(rerunLink);
  const got = await api('GET', '/v1/executions/' + rerun);
  assert.equal(got.body.rerun_of, wf);
  ok('re-ran the workflow from the page: ' + rerun);

  // Cancel the re-run's delayed child; a second cancel is refused and the page says why.
  await rerunLink.click();
  await waitState(page, 'succeeded');
  const tutorial = page.locator('#children li[data-child]:has(.state[data-state="scheduled"]) a.mono');
  await tutorial.waitFor({timeout: T});
  const child = await idFromLink(tutorial);
  await tutorial.click();
  await waitState(page, 'scheduled');
  await page.click('button[data-action="cancel"]');
  await confirm(page);
  await waitState(page, 'cancelled');
  assert.equal((await api('GET', '/v1/executions/' + child)).body.state, 'cancelled');
  ok('cancelled the delayed child from the page');
  await disabledWhy(page, 'cancel', /cancelled/);
  await disabledWhy(page, 'upgrade', /cancelled/);
  assert.equal(await page.locator('button[data-action="re-run"]').isEnabled(), true);
  await shot(page, 'execution-cancelled-1280.png');

  await followAndNotify(page, requests);
  await retentionBanner(page, brief.body.id);

  // Reload plugins, one file broken: the page says what each file did.
  fs.writeFileSync(path.join(PLUGINS, 'broken.so'), 'not a shared object\n', {mode: 0o644});
  await page.goto(`${URL_}/#/plugins`);
  await page.locator('#plugins table').waitFor({timeout: T});
  await page.click('#reload');
  await page.locator('#reload-result table').waitFor({timeout: T});
  const reloadText = await page.locator('#reload-result').innerText();
  assert.match(reloadText, /broken\.so[\s\S]*error/);
  assert.match(reloadText, /onboarding\.so[\s\S]*unchanged/);
  ok('reloaded plugins from the page: broken.so refused, the others unchanged');
  await page.locator('#plugins .state[data-state="error"]').waitFor({timeout: T});
  // Each version's pinned count is the host's (GET /v1/plugins, from its pins index).
  const listed = (await api('GET', '/v1/plugins')).body.data.filter((p) => typeof p.pinned === 'number');
  assert.ok(listed.length > 0, 'the host counts pinned executions per version');
  for (const p of listed)
    assert.equal(await page.locator(`#plugins .pinned[data-hash="${p.hash}"]`).first().innerText(), String(p.pinned));
  ok(`the plugins page shows each version's pinned count (${listed.map((p) => `${p.name}: ${p.pinned}`).join(', ')})`);
  // The hosts serving the store (GET /v1/cluster): this host's row, as the API names it.
  const cluster = (await api('GET', '/v1/cluster')).body;
  assert.equal(cluster.hosts.length, 1, JSON.stringify(cluster));
  const me = cluster.hosts[0];
  const hostRow = page.locator('#hosts tr', {has: page.locator(`.host-id[data-host="${me.id}"]`)});
  await hostRow.waitFor({timeout: T});
  const hostText = await hostRow.innerText();
  for (const v of [String(me.pid), me.address, String(me.workers)]) assert.ok(hostText.includes(v), `${v} in ${hostText}`);
  ok(`the plugins page lists the host ${me.id} (${me.hostname}, pid ${me.pid}, ${me.address}, ${me.workers} workers)`);
  await shot(page, 'plugins-1280.png');

  // Functions, and one function's page: its numbers and charts for the last hour, then the day.
  await page.goto(`${URL_}/#/functions`);
  await page.locator('#main table a[href="#/functions/user_onboarding"]').waitFor({timeout: T});
  await page.click('#main table a[href="#/functions/user_onboarding"]');
  for (const [window, buckets] of [['1h', '60 × 60 s'], ['24h', '96 × 900 s']]) {
    if (window !== '1h') await page.click(`#main a[href="#/functions/user_onboarding?window=${window}"]`);
    await page.locator(`#fn-stats[data-window="${window}"] #chart-throughput svg rect.bar.succeeded`).first().waitFor({timeout: T});
    await page.locator(`#fn-stats[data-window="${window}"] #chart-durations svg circle.dot.p50`).first().waitFor({timeout: T});
    assert.match(await page.locator('#fn-stats').innerText(), new RegExp(buckets));
    // Every execution of it is final by now: the counts stand still, and the page must show the route's.
    const stats = await api('GET', `/v1/functions/user_onboarding/stats?window=${window}`);
    assert.equal(stats.status, 200);
    const t = stats.body.totals;
    assert.ok(t.succeeded >= 2 && t.started >= 2, JSON.stringify(t));
    for (const k of ['started', 'succeeded', 'failed', 'cancelled']) {
      await page.waitForFunction(([k, n]) => document.querySelector(`#fn-stats [data-total="${k}"]`)?.textContent === String(n), [k, t[k]], {timeout: T});
    }
    const rate = (stats.body.success_rate * 100).toFixed(1) + ' %';
    assert.equal(await page.locator('#success-rate').innerText(), rate);
    ok(`the function page (${window}) draws throughput and run time charts and shows the route's numbers: ` +
      `${t.started} started, ${t.succeeded} succeeded, ${rate}`);
    await shot(page, `function-${window}-1280.png`);
  }

  // The policy holds: the page never broke it, and a page that does is caught.
  assert.deepEqual(await page.evaluate(() => window.__csp), []);
  styleViolationExpected = true;
  await page.evaluate(() => { const d = document.createElement('div'); d.setAttribute('style', 'color: red'); document.body.append(d); });
  await page.waitForFunction(() => window.__csp.length > 0, null, {timeout: T});
  ok('an inline style is refused by the Content-Security-Policy (the check sees violations)');
  await context.close();
  styleViolationExpected = false;
  return {wf};
}

async function phone(browser, {wf}) {
  const {context, page} = await openPage(browser, {width: 390, height: 844}, '390x844');
  await giveToken(page);
  await page.locator(`#list a[href="#/executions/${wf}"]`).waitFor({timeout: T});
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(await overflow() <= 1, 'the list page is no wider than the phone');
  await shot(page, 'executions-390.png');
  await page.goto(`${URL_}/#/executions/${wf}`);
  await waitState(page, 'succeeded');
  await page.waitForFunction(() => document.querySelectorAll('#timeline svg g.entry').length >= 4, null, {timeout: T});
  await page.locator('#logs .line[data-seq]').first().waitFor({timeout: T});
  assert.ok(await overflow() <= 1, 'the execution page is no wider than the phone');
  const svgW = await page.locator('#timeline svg').evaluate((s) => s.getBoundingClientRect().width);
  assert.ok(svgW <= 390, `the timeline fits the phone (${svgW}px)`);
  ok('at 390x844 the pages fit the width (tables scroll in their box), timeline and logs show');
  await shot(page, 'execution-390.png');
  assert.deepEqual(await page.evaluate(() => window.__csp), []);
  await context.close();
}

const browser = await chromium.launch({executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true});
try {
  const seen = await desktop(browser);
  await phone(browser, seen);
} finally {
  await browser.close();
}
assert.deepEqual(problems, [], 'no console error, uncaught exception or CSP violation');
ok('no console error, uncaught exception or CSP violation');
