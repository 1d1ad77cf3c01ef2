'use strict';
/*
 * Issue 11 item 3: one drain takes many ready streams at once, and the JS run for one of them
 * may release later ones of the same batch (cancel -> deliver -> terminate -> release, or
 * merge iterator -> setFlow -> deliver -> terminate -> release). Before take_ready handed out
 * owned references, the drain then read freed memory for those later entries (a
 * heap-use-after-free under ASan: `scripts/test-node.sh --asan tests/node/drain.test.js`).
 *
 * All answers are held by a gate server until every stream is set up; then the JS thread
 * blocks until the engine has queued every stream's terminal event, so one drain takes them
 * all, in whatever order they became ready.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { tw } = require('./helpers');

const NX = 24; /* flowing streams; the first one delivered cancels the others */
const NY = 24; /* merge sources; that same listener pulls them through the merged iterator */
const CHUNKS = 6;

function textOf(name) {
    let t = '';
    for (let i = 0; i < CHUNKS; i++) t += `${name}:${i} `;
    return t;
}

function message(worker, type) {
    return new Promise((resolve, reject) => {
        const on = (m) => {
            if (m.type !== type) return;
            worker.off('message', on);
            resolve(m);
        };
        worker.on('message', on);
        worker.once('error', reject);
    });
}

/* Blocks the JS thread (no drain can run) until the engine counts n more finished streams. */
function blockUntilFinished(base, n) {
    const deadline = Date.now() + 30000; /* a guard against a hang, not synchronisation */
    while (tw.stats().streamsFinished < base + n) {
        if (Date.now() > deadline) throw new Error(`only ${tw.stats().streamsFinished - base} of ${n} streams finished`);
    }
}

test('JS run for one ready stream cancels and finishes later streams of the same drain', async (t) => {
    const gate = new Worker(path.join(__dirname, 'gate_server.js'), { workerData: { n: NX + NY, chunks: CHUNKS } });
    t.after(() => gate.terminate());
    const { port } = await message(gate, 'listening');
    const ready = message(gate, 'ready');
    const client = new tw.Client({ baseURL: `http://127.0.0.1:${port}`, maxRetries: 0 });
    const base = tw.stats().streamsFinished;

    const xs = [];
    const got = new Map(); /* name -> text received */
    const ended = new Map(); /* name -> summary */
    const errors = [];
    let first = null;
    let firstSaw = null;
    let iter = null;
    let firstNext = null;
    let firstRan;
    const firstCalled = new Promise((resolve) => {
        firstRan = resolve;
    });
    for (let i = 0; i < NX; i++) {
        const name = `x${i}`;
        const s = client.stream('/' + name, { json: {} });
        xs.push(s);
        got.set(name, '');
        s.on('text', (t) => {
            got.set(name, got.get(name) + t);
            if (first !== null) return;
            /* The first delivery of this drain: nothing else of the batch has reached JS. */
            first = name;
            firstSaw = xs.map((o) => o.done);
            for (const o of xs) if (o !== s) o.cancel();
            firstNext = iter.next(); /* pulls every merge source synchronously */
            firstRan();
        });
        s.on('end', (sum) => ended.set(name, sum));
        s.on('error', (e) => errors.push(e));
    }
    const sources = {};
    for (let i = 0; i < NY; i++) sources[`y${i}`] = client.stream(`/y${i}`, { json: {} });
    const merged = tw.merge(sources);
    iter = merged[Symbol.asyncIterator]();

    await ready; /* every request arrived; listeners and flow modes are in place */
    gate.postMessage('go');
    blockUntilFinished(base, NX + NY);

    /* The merged iterator: every source's events, complete, then done. */
    const ytext = {};
    const done = new Set();
    const take = (r) => {
        assert.equal(r.done, false);
        const ev = r.value;
        if (ev.type === 'text') ytext[ev.source] = (ytext[ev.source] || '') + ev.text;
        if (ev.type === 'error') throw new Error(`${ev.source}: ${ev.message}`);
        if (ev.type === 'agent_complete') done.add(ev.source);
    };
    await firstCalled; /* the drain ran the listener */
    take(await firstNext);
    for (;;) {
        const r = await iter.next();
        if (r.done) break;
        take(r);
    }

    assert.deepEqual(firstSaw, xs.map(() => false), 'all streams were in the drain that ran the listener');
    assert.deepEqual(errors, []);
    assert.deepEqual([...ended.keys()], [first], 'only the first stream ended normally');
    assert.equal(ended.get(first).text, textOf(first));
    for (const [name, t] of got) if (name !== first) assert.equal(t, '', `${name} was cancelled before delivery`);
    for (const s of xs) assert.ok(s.done);
    assert.equal(done.size, NY);
    for (let i = 0; i < NY; i++) assert.equal(ytext[`y${i}`], textOf(`y${i}`), `y${i}`);
    assert.equal(tw.stats().bindingActive, 0);
});
