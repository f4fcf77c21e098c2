// charts.js - the dashboard's three charts, drawn as inline SVG at the width of their box (so
// text stays readable at phone width: the page draws them again when the window is resized).
// Colours come from classes in app.css; no style attributes (the CSP allows no inline style).
//
//   timeline(box, execution, now)  one bar per journal entry on a shared time axis
//   throughput(box, stats)         executions finished per bucket, stacked by outcome
//   durations(box, stats)          p50/p95/p99 run time per bucket

import {durationText, timeText} from './dom.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === 'class') el.setAttribute('class', v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function svgBox(box, width, height, cls, label) {
  const svg = s('svg', {width, height, viewBox: `0 0 ${width} ${height}`, class: cls, role: 'img', 'aria-label': label});
  box.replaceChildren(svg);
  return svg;
}

const ms = (t) => (t ? Date.parse(t) : NaN);

// Cut text to about `px` pixels of 12px text (SVG has no ellipsis of its own).
function fit(text, px) {
  const max = Math.max(4, Math.floor(px / 6.6));
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

export function timeline(box, x, now = Date.now()) {
  const journal = x.journal || [];
  const width = Math.max(300, box.clientWidth || 600);
  const rowH = 22, top = 24, labelW = Math.min(230, Math.round(width * 0.38)), right = 10;
  const height = top + Math.max(1, journal.length) * rowH + 6;
  const svg = svgBox(box, width, height, 'timeline', 'timeline of the journal');

  const starts = journal.map((e) => ms(e.started_at)).filter(isFinite);
  const ends = journal.map((e) => ms(e.finished_at)).filter(isFinite);
  const t0 = Math.min(...[ms(x.created_at), ...starts].filter(isFinite));
  const final = isFinite(ms(x.finished_at));
  const t1 = Math.max(final ? ms(x.finished_at) : now, ...ends, t0 + 1);
  const plotW = width - labelW - right;
  const at = (t) => labelW + ((t - t0) / (t1 - t0)) * plotW;

  // The axis: start, middle and end, as time since the first instant.
  svg.append(s('line', {x1: labelW, x2: labelW + plotW, y1: top - 6, y2: top - 6, class: 'axis'}));
  for (const f of [0, 0.5, 1]) {
    const anchor = f === 0 ? 'start' : f === 1 ? 'end' : 'middle';
    svg.append(s('text', {x: labelW + f * plotW, y: 12, 'text-anchor': anchor}, '+' + durationText(f * (t1 - t0))));
  }
  svg.append(s('text', {x: 0, y: 12}, final ? 'finished' : 'now →'));
  if (!journal.length) {
    svg.append(s('text', {x: labelW, y: top + 14, class: 'label'}, 'no journal entries (a plain function, or not started)'));
    return;
  }
  journal.forEach((e, i) => {
    const y = top + i * rowH;
    const pending = e.status === 'pending' || !e.finished_at;
    const start = isFinite(ms(e.started_at)) ? ms(e.started_at) : t0;
    const end = pending ? (final ? t1 : now) : ms(e.finished_at);
    const bx = at(start), bw = Math.max(3, at(end) - bx);
    const name = `${e.seq} ${e.kind}${e.name ? ' ' + e.name : ''}`;
    const tip = `${name}: ${e.status}, started ${timeText(e.started_at)}` +
      (e.finished_at ? `, took ${durationText(ms(e.finished_at) - start)}` : ', not settled yet') +
      (e.wake_at ? `, wakes ${timeText(e.wake_at)}` : '') + (e.error ? ` — ${e.error}` : '');
    const row = s('g', {class: 'entry', 'data-kind': e.kind, 'data-status': e.status},
      s('title', {}, tip),
      s('text', {x: 0, y: y + 14, class: 'label'}, fit(name, labelW - 6)),
      s('rect', {x: bx, y: y + 3, width: bw, height: rowH - 8, rx: 2, class: 'bar ' + (pending ? 'pending' : e.status)}));
    if (e.wake_at && (e.kind === 'sleep' || pending)) {
      // A sleep's end, or when a delayed child was due: often far beyond the axis (a day).
      const text = e.kind === 'sleep' ? (pending ? 'wakes ' : 'woke ') + timeText(e.wake_at) : 'child due ' + timeText(e.wake_at);
      row.append(s('text', {x: labelW + plotW, y: y + 14, 'text-anchor': 'end', class: 'wake'}, text));
    }
    if (e.child_id) {
      const link = s('a', {href: '#/executions/' + e.child_id});
      link.append(row);
      svg.append(link);
    } else {
      svg.append(row);
    }
  });
  if (!final) svg.append(s('line', {x1: at(now), x2: at(now), y1: top - 6, y2: height, class: 'now'}));
}

function frame(box, stats, height, label) {
  const width = Math.max(260, box.clientWidth || 600);
  const svg = svgBox(box, width, height, 'series', label);
  const left = 44, right = 8, top = 8, bottom = 20;
  const plot = {x: left, y: top, w: width - left - right, h: height - top - bottom};
  svg.append(s('line', {x1: plot.x, x2: plot.x + plot.w, y1: plot.y + plot.h, y2: plot.y + plot.h, class: 'axis'}));
  const b = stats.buckets;
  if (b.length) {
    svg.append(s('text', {x: plot.x, y: height - 4}, timeText(b[0].at).slice(11, 16)));
    svg.append(s('text', {x: plot.x + plot.w, y: height - 4, 'text-anchor': 'end'}, timeText(b[b.length - 1].at).slice(11, 16)));
  }
  return {svg, plot};
}

// Executions that ended per bucket: succeeded, failed, and the rest (cancelled, discarded,
// blocked) stacked; the height of the box is the busiest bucket.
export function throughput(box, stats) {
  const {svg, plot} = frame(box, stats, 150, 'executions finished per bucket');
  const b = stats.buckets;
  const other = (k) => (k.cancelled || 0) + (k.discarded || 0) + (k.blocked || 0);
  const max = Math.max(1, ...b.map((k) => (k.succeeded || 0) + (k.failed || 0) + other(k)));
  svg.append(s('text', {x: plot.x - 4, y: plot.y + 10, 'text-anchor': 'end'}, String(max)));
  svg.append(s('text', {x: plot.x - 4, y: plot.y + plot.h, 'text-anchor': 'end'}, '0'));
  const bw = plot.w / Math.max(1, b.length);
  b.forEach((k, i) => {
    let y = plot.y + plot.h;
    for (const [cls, n] of [['succeeded', k.succeeded || 0], ['failed', k.failed || 0], ['other', other(k)]]) {
      if (!n) continue;
      const hgt = (n / max) * plot.h;
      y -= hgt;
      svg.append(s('rect', {x: plot.x + i * bw + 0.5, y, width: Math.max(1, bw - 1), height: hgt, class: 'bar ' + cls},
        s('title', {}, `${timeText(k.at)}: ${n} ${cls}`)));
    }
  });
}

// p50, p95 and p99 of the run time per bucket, as lines with gaps where a bucket had none.
export function durations(box, stats) {
  const {svg, plot} = frame(box, stats, 150, 'run time percentiles per bucket');
  const b = stats.buckets;
  const vals = b.flatMap((k) => [k.p50_ms, k.p95_ms, k.p99_ms]).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1, ...vals);
  svg.append(s('text', {x: plot.x - 4, y: plot.y + 10, 'text-anchor': 'end'}, durationText(max)));
  svg.append(s('text', {x: plot.x - 4, y: plot.y + plot.h, 'text-anchor': 'end'}, '0'));
  const step = plot.w / Math.max(1, b.length);
  for (const p of ['p50', 'p95', 'p99']) {
    let d = '', pen = false;
    b.forEach((k, i) => {
      const v = k[p + '_ms'];
      if (v === null || v === undefined) { pen = false; return; }
      const px = plot.x + (i + 0.5) * step, py = plot.y + plot.h - (v / max) * plot.h;
      d += `${pen ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)} `;
      pen = true;
      // A lone point (neighbours empty) would draw nothing: a dot shows it.
      svg.append(s('circle', {cx: px, cy: py, r: 3, class: 'dot ' + p}));
    });
    if (d) svg.append(s('path', {d, class: 'line ' + p}));
  }
}
