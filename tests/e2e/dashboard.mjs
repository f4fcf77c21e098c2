// dashboard.mjs - the dashboard in a real browser: Debian's Chromium, headless, driven by
// playwright-core (pinned in package-lock.json). Started by tests/e2e/run.py, which runs a real
// `tarry serve` with the example plugins and a token and passes:
//
//   TARRY_URL        the host, http://127.0.0.1:PORT
//   TARRY_TOKEN      the token the page must ask for
//   TARRY_PLUGINS    the host's plugins folder (a broken file is dropped there before a reload)
//   TARRY_ARTIFACTS  where the screenshots go
//   TARRY_CHROMIUM   the browser (default /usr/bin/chromium)
//
// What a user does, through the page only: give the token, trigger the onboarding workflow,
// watch it succeed, reschedule its day-long delayed child to now, re-run the workflow, cancel the
// re-run's delayed child (and see the API refuse a second cancel), reload plugins (one of them
// broken), open the functions, at 1280x800 and at 390x844. Every console error, uncaught
// exception and Content-Security-Policy violation fails the test; an API refusal the page shows
// (a 401 before the token, the 409 of the second cancel) is the page working, and is allowed.

import {chromium} from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const URL_ = process.env.TARRY_URL;
const TOKEN = process.env.TARRY_TOKEN;
const PLUGINS = process.env.TARRY_PLUGINS;
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

async function desktop(browser) {
  const {context, page} = await openPage(browser, {width: 1280, height: 800}, '1280x800');

  // The page and its headers.
  const res = await page.goto(URL_ + '/');
  assert.equal(res.headers()['content-security-policy'], CSP);
  assert.equal(res.headers()['x-content-type-options'], 'nosniff');
  ok('/ carries the Content-Security-Policy and nosniff');

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
  await page.click('button[data-action="reschedule"]');
  await confirm(page);
  await page.locator('#action-result .notice').waitFor({timeout: T});
  await waitState(page, 'succeeded');
  ok('rescheduled the delayed child to now from the page; it succeeded');

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
  await page.click('button[data-action="cancel"]');
  await confirm(page);
  await page.locator('#action-result .error').waitFor({timeout: T});
  assert.match(await page.locator('#action-result .error').innerText(), /cannot cancel .*cancelled/);
  ok('a second cancel shows the API\'s refusal: ' + (await page.locator('#action-result .error').innerText()));
  await shot(page, 'execution-cancelled-1280.png');

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
  await shot(page, 'plugins-1280.png');

  // Functions, and one function's page (stats or "no data" when the host has none).
  await page.goto(`${URL_}/#/functions`);
  await page.locator('#main table a[href="#/functions/user_onboarding"]').waitFor({timeout: T});
  await page.click('#main table a[href="#/functions/user_onboarding"]');
  await page.locator('#fn-stats > *').first().waitFor({timeout: T});
  const stats = await api('GET', '/v1/functions/user_onboarding/stats?window=1h');
  if (stats.status === 200) {
    await page.locator('#chart-throughput svg').waitFor({timeout: T});
    await page.locator('#chart-durations svg').waitFor({timeout: T});
    ok('the function page draws throughput and run time charts');
  } else {
    assert.match(await page.locator('#fn-stats').innerText(), /No data/);
    ok(`the function page says "no data" (the stats route answered ${stats.status})`);
  }
  await shot(page, 'function-1280.png');

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
