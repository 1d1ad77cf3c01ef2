'use strict';
// One benchmark peer run: node peer.js IMPL --workload W [options] -> one JSON line on stdout.
// The orchestrator (benchmarks/bench.py) starts this as its own process pinned to the client
// core; CPU is process.cpuUsage() (getrusage of the whole process, every thread), read around
// the measured section only (module loading, client construction and a warm-up are outside).
// IMPL is a module of this folder (openai, anthropic, fetch_esp, undici_esp, undici_split,
// ai_sdk, tokenwire) with an optional variant after a colon (tokenwire:iter, anthropic:helper).
// Every peer has visit(q, fn): one request, fn(text) per text delta, resolves to the count. Bulk
// collects the deltas and reports the SHA-256 of the assembled text (hashed after the measured
// section); bench.py compares it with the mock's expected text.
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const path = require('path');
const { tls } = require('./common');

function textResult(parts) {
  const text = parts.join('');
  return { chars: text.length, sha256: crypto.createHash('sha256').update(text).digest('hex') };
}

function parseArgs(argv) {
  const a = { impl: argv[0], workload: null, base: 'http://127.0.0.1:8080', dialect: 'openai',
    query: '', chunks: 200000, streams: 1000, rate: 50, duration: 20, requests: 1000, ca: '',
    http2: false };
  for (let i = 1; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (k === 'http2') { a.http2 = true; i--; continue; }
    if (!(k in a)) throw new Error('unknown option ' + argv[i]);
    a[k] = typeof a[k] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  return a;
}

function parseQuery(s) {
  const q = {};
  for (const part of (s || '').split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    q[i < 0 ? part : part.slice(0, i)] = i < 0 ? '' : part.slice(i + 1);
  }
  return q;
}

const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const wallNow = () => performance.now() / 1e3;

// CLOCK_REALTIME in microseconds: Date.now() has millisecond steps, so anchor the monotonic
// clock to the instant Date.now() ticks over, which pins the offset to a few microseconds.
function makeRealtimeUs() {
  const d0 = Date.now();
  let d1, h;
  do { d1 = Date.now(); h = process.hrtime.bigint(); } while (d1 === d0);
  const offset = BigInt(d1) * 1000n - h / 1000n;
  return () => Number(process.hrtime.bigint() / 1000n + offset);
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.round(p / 100 * (sorted.length - 1))));
  return sorted[k];
}

// When bench.py runs peers side by side (BENCH_BARRIER=port), every peer reports ready after
// its warm-up and waits for the go, so that no peer's start-up overlaps another's measurement.
function barrier() {
  const port = process.env.BENCH_BARRIER;
  if (!port) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), '127.0.0.1', () => s.write('ready\n'));
    s.once('data', () => { s.destroy(); resolve(); });
    s.once('error', reject);
  });
}

async function bulk(peer, a) {
  const q = Object.assign(parseQuery(a.query), { chunks: String(a.chunks) });
  await peer.visit(Object.assign(parseQuery(a.query), { chunks: '5' }), () => {});
  const parts = [];
  const push = (t) => { parts.push(t); };
  const c0 = cpuNow(), w0 = wallNow();
  const n = await peer.visit(q, push);
  const w1 = wallNow(), c1 = cpuNow();
  return Object.assign(textResult(parts),
    { chunks: n, cpu_s: c1 - c0, wall_s: w1 - w0, expected: a.chunks });
}

async function fanin(peer, a) {
  const perStream = Math.round(a.rate * a.duration);
  const q = Object.assign(parseQuery(a.query), { chunks: String(perStream),
    delay_ms: String(1000 / a.rate), timestamp: '1' });
  await peer.visit(Object.assign(parseQuery(a.query), { chunks: '5' }), () => {});
  await barrier();
  const nowUs = makeRealtimeUs();
  const lat = [];
  const visit = (t) => { lat.push(nowUs() - parseInt(t, 10)); };
  const rss0 = process.memoryUsage.rss();
  let rssMax = rss0;
  const timer = setInterval(() => { rssMax = Math.max(rssMax, process.memoryUsage.rss()); }, 500);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // Starts are spread over one chunk interval so the streams' ticks are not in lock-step, and
  // at most 1,000 per second so that no client is judged on how fast a burst of 5,000 connects
  // gets through the listen queue.
  const ramp = Math.max(1 / a.rate, a.streams / 1000);
  const one = async (i) => {
    await sleep(1000 * i * ramp / a.streams);
    return peer.visit(q, visit);
  };
  const c0 = cpuNow(), w0 = wallNow();
  // A client that cannot keep up would take many times the planned duration: stop it at a
  // deadline and report it as saturated, with what it delivered by then.
  let deadline;
  const limit = new Promise((r) => {
    deadline = setTimeout(() => r(null), 1000 * (ramp + a.duration + Math.max(5, a.duration / 4)));
  });
  const res = await Promise.race([
    Promise.allSettled(Array.from({ length: a.streams }, (_, i) => one(i))), limit]);
  clearTimeout(deadline);
  const w1 = wallNow(), c1 = cpuNow();
  clearInterval(timer);
  rssMax = Math.max(rssMax, process.memoryUsage.rss());
  const errors = res ? res.filter((r) => r.status === 'rejected') : [];
  const n = lat.length;
  const sorted = Float64Array.from(lat).sort();
  const out = { chunks: n, expected: perStream * a.streams, cpu_s: c1 - c0, wall_s: w1 - w0,
    cpu_util: (c1 - c0) / (w1 - w0), lat_p50_us: pct(sorted, 50), lat_p99_us: pct(sorted, 99),
    lat_max_us: sorted.length ? sorted[sorted.length - 1] : null,
    rss_base: rss0, rss_max: rssMax, rss_per_stream: (rssMax - rss0) / a.streams,
    saturated: res === null };
  if (errors.length) { out.errors = errors.length; out.first_error = String(errors[0].reason); }
  return out;
}

async function ttft(Peer, a, variant) {
  const q = Object.assign(parseQuery(a.query), { chunks: String(a.chunks) });
  let t0 = performance.now();
  const peer = new Peer(a.base, a.dialect, 1, variant);
  let [tf, n] = await peer.first(q);
  const cold = tf - t0;
  const ts = [];
  let total = n;
  const c0 = cpuNow(), w0 = wallNow();
  for (let i = 0; i < a.requests; i++) {
    t0 = performance.now();
    [tf, n] = await peer.first(q);
    ts.push(tf - t0);
    total += n;
  }
  const w1 = wallNow(), c1 = cpuNow();
  const parts = [];
  await peer.visit(q, (t) => { parts.push(t); }); // one more request, its text checked
  await peer.close();
  ts.sort((x, y) => x - y);
  return { ...textResult(parts), chunks: total, expected: a.chunks * (a.requests + 1),
    cold_ms: cold,
    ttft_p50_ms: pct(ts, 50), ttft_p99_ms: pct(ts, 99), cpu_s: c1 - c0, wall_s: w1 - w0,
    cpu_per_req_us: (c1 - c0) / a.requests * 1e6 };
}

function versions(mod) {
  const v = { node: process.versions.node };
  for (const d of mod.DISTS || []) {
    try {
      const pj = path.join(__dirname, 'node_modules', d, 'package.json');
      v[d] = JSON.parse(fs.readFileSync(pj, 'utf8')).version;
    } catch (e) {
      v[d] = 'missing (' + e.code + ')';
    }
  }
  if (mod.versionOf) v.tokenwire = mod.versionOf();
  return v;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const [name, variant = ''] = a.impl.split(':');
  const out = { impl: a.impl, loop: 'libuv', workload: a.workload };
  if (a.ca) Object.assign(tls, { ca: fs.readFileSync(a.ca, 'utf8'), caFile: a.ca });
  tls.http2 = a.http2;
  let mod;
  try {
    mod = require(path.join(__dirname, name + '.js'));
    if (a.workload === 'versions') out.versions = versions(mod);
    else if (a.workload === 'ttft') Object.assign(out, await ttft(mod.Peer, a, variant));
    else {
      const peer = new mod.Peer(a.base, a.dialect, a.workload === 'fanin' ? a.streams : 1, variant);
      try {
        Object.assign(out, a.workload === 'bulk' ? await bulk(peer, a) : await fanin(peer, a));
      } finally {
        await peer.close();
      }
    }
    if (a.workload !== 'versions') out.versions = versions(mod);
    out.ok = !('errors' in out);
  } catch (e) {
    out.ok = false;
    out.error = String(e && e.stack ? e.stack.split('\n')[0] : e);
    process.stderr.write(String(e && e.stack) + '\n');
  }
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(out.ok ? 0 : 1));
}

main();
