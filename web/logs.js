// logs.js - an execution's log lines: every page read with ?after=, then, while the execution
// runs, followed through GET .../logs?follow=1 (server-sent events, read with fetch() and a
// ReadableStream because EventSource cannot send the Authorization header). A host without the
// stream (the answer is not text/event-stream) is polled a page at a time instead.
//
// Line objects: {seq, time, level, attempt?, message}; `after` is the next seq wanted: a page's
// next_cursor, and for a stream the line after the last event's id, which is what the host
// resumes from with ?after= (docs/API.md, "Following"). A stream that closes without `end` (the
// host restarted) is followed again from there, so no line is shown twice or skipped.
//
// The log box says how it reads in data-mode: "pages" (final when opened: read once),
// "follow" (streaming), "poll" (no stream on this host), "ended" (the stream's `end` came).

import {authHeaders, get} from './api.js';
import {h, fill, errorBox, timeText} from './dom.js';

const POLL_MS = 2000;
const RECONNECT_MS = [500, 1000, 2000, 5000]; // waits before following again, the last repeated

export function logsView(id, page, isFinal) {
  const empty = h('div', {class: 'line debug'}, 'no log lines yet');
  const box = h('div', {class: 'logs', id: 'logs', 'aria-live': 'polite'}, empty);
  const status = h('div', {class: 'muted small', id: 'logs-status'});
  const root = h('div', {}, box, status);
  const base = '/v1/executions/' + encodeURIComponent(id) + '/logs';
  let after = 0, count = 0, stopped = false, abort = null, dropped = 0;
  page.onLeave(() => { stopped = true; if (abort) abort.abort(); });
  const mode = (m) => { box.dataset.mode = m; };

  const add = (line) => {
    if (line.seq < after) return; // seen already (a page and the stream may overlap)
    after = line.seq + 1;
    count++;
    empty.remove();
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    box.append(h('div', {class: 'line ' + line.level, 'data-seq': line.seq},
      h('span', {class: 't'}, timeText(line.time).slice(11) + ' '),
      h('span', {class: 'lv'}, line.level.padEnd(5) + ' '),
      line.attempt ? h('span', {class: 't'}, '#' + line.attempt + ' ') : null,
      line.message));
    if (stick) box.scrollTop = box.scrollHeight;
  };
  const say = (text) => {
    fill(status, text + (dropped ? ` · ${dropped} lines dropped by the host's limit` : ''));
  };

  // Every page from `after` on; returns when the host says there is no next page.
  async function readPages() {
    for (;;) {
      const doc = await get(`${base}?after=${after}&limit=1000`);
      dropped = doc.dropped || 0;
      for (const line of doc.data) add(line);
      if (!doc.next_cursor || stopped) return;
      after = Math.max(after, Number(doc.next_cursor)); // the host's cursor, even past a gap
    }
  }

  // Follow the stream once: 'end' (the execution is final and every line came), 'closed' (the
  // stream stopped without `end`), or 'none' (this host answers no stream: poll instead).
  async function follow() {
    abort = new AbortController();
    const res = await fetch(`${base}?follow=1&after=${after}`, {headers: authHeaders(), signal: abort.signal, cache: 'no-store'});
    const type = res.headers.get('Content-Type') || '';
    if (!res.ok || !type.startsWith('text/event-stream') || !res.body) {
      abort.abort();
      return res.status === 503 ? 'closed' : 'none'; // 503: too many followers for now
    }
    mode('follow');
    say('following…');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return 'closed';
      buf += value.replace(/\r\n?/g, '\n');
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const event = parseEvent(buf.slice(0, cut));
        buf = buf.slice(cut + 2);
        if (event.name === 'line') {
          add(JSON.parse(event.data));
        } else if (event.name === 'end') {
          const end = JSON.parse(event.data);
          dropped = end.dropped || dropped;
          mode('ended');
          box.dataset.end = end.state;
          say(`the execution ended (${end.state}); ${count} lines`);
          reader.cancel().catch(() => {}); // the host closes it too; nothing more is read
          return 'end';
        }
      }
    }
  }

  (async () => {
    try {
      await readPages();
      if (isFinal()) { mode('pages'); say(`${count} lines`); return; }
      for (let tries = 0; !stopped; tries++) {
        let got;
        try { got = await follow(); } catch (e) { got = 'closed'; }
        if (got === 'end' || stopped) return;
        if (got === 'none') break;
        // Closed without `end` (the host restarted, or the connection broke): go on from `after`.
        say('the stream closed; following again…');
        await new Promise((r) => setTimeout(r, RECONNECT_MS[Math.min(tries, RECONNECT_MS.length - 1)]));
      }
      if (stopped) return;
      // No stream from this host: poll the next page until the execution is final.
      mode('poll');
      say('following (polling)…');
      while (!stopped) {
        await new Promise((r) => setTimeout(r, POLL_MS));
        if (document.visibilityState !== 'visible') continue;
        const wasFinal = isFinal();
        await readPages();
        if (wasFinal) { say(`${count} lines`); return; }
        say('following (polling)…');
      }
    } catch (e) {
      if (!stopped) fill(status, errorBox(e));
    }
  })();
  return root;
}

// One SSE event block: "event: x\ndata: ...\nid: n" (comments ": keepalive" ignored).
function parseEvent(block) {
  const ev = {name: 'message', data: ''};
  const data = [];
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') ev.name = value;
    else if (field === 'data') data.push(value);
  }
  ev.data = data.join('\n');
  return ev;
}
