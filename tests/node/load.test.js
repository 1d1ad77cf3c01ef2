'use strict';
/* Backpressure, many concurrent streams, many sequential streams, worker threads. */
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const v8 = require('v8');
const vm = require('vm');
const { Worker } = require('worker_threads');
const { tw, startMock, expectedText, body, waitFor, sleep } = require('./helpers');

/* Small watermarks make pausing visible quickly (this file runs in its own process). */
tw.configure({ queueHighWatermark: 256 * 1024, queueLowWatermark: 64 * 1024 });
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

let mock;
let client;
test.before(() => {
    mock = startMock(2);
    client = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
});
test.after(() => mock.stop());

test('slow async-iterator reader: transfer paused, memory bounded', async () => {
    gc();
    const rss0 = process.memoryUsage().rss;
    const s = client.stream('/v1/chat/completions?chunks=2000000', { json: body() });
    let n = 0;
    let paused = false;
    let maxRss = rss0;
    const end = Date.now() + 1500;
    for await (const ev of s) {
        if (ev.type !== 'text') continue;
        if (++n % 2000 === 0) {
            await sleep(10);
            if (tw.stats().pausedStreams > 0) paused = true;
            maxRss = Math.max(maxRss, process.memoryUsage().rss);
            if (Date.now() > end) break;
        }
    }
    assert.ok(paused, 'the engine paused the transfer');
    assert.ok(n < 2000000, 'the reader did not get everything');
    assert.ok(maxRss - rss0 < 150 * 1024 * 1024, `RSS grew by ${(maxRss - rss0) >> 20} MiB`);
    assert.ok(await waitFor(() => mock.stats().active === 0));
});

test('slow ReadableStream reader: transfer paused, memory bounded', async () => {
    const rss0 = process.memoryUsage().rss;
    const s = client.stream('/v1/chat/completions?chunks=2000000', { json: body() });
    const reader = s.toReadableStream({ format: 'sse-openai' }).getReader();
    let bytes = 0;
    let paused = false;
    let maxRss = rss0;
    const end = Date.now() + 1500;
    while (Date.now() < end) {
        const { value, done } = await reader.read();
        if (done) break;
        bytes += value.length;
        await sleep(5);
        if (tw.stats().pausedStreams > 0) paused = true;
        maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }
    await reader.cancel();
    assert.ok(paused, 'the engine paused the transfer');
    assert.ok(bytes > 0);
    assert.ok(maxRss - rss0 < 150 * 1024 * 1024, `RSS grew by ${(maxRss - rss0) >> 20} MiB`);
    assert.ok(await waitFor(() => mock.stats().active === 0));
});

test('1,000 concurrent streams all complete with exact text', async () => {
    const N = 1000;
    const want = expectedText(20);
    const streams = [];
    for (let i = 0; i < N; i++) streams.push(client.stream('/v1/chat/completions?chunks=20&delay_ms=1', { json: body() }));
    const texts = await Promise.all(streams.map(async (s) => {
        let t = '';
        for await (const x of s.text()) t += x;
        return t;
    }));
    assert.equal(texts.length, N);
    for (const t of texts) assert.equal(t, want);
    assert.ok(await waitFor(() => mock.stats().active === 0));
    assert.equal(tw.stats().bindingActive, 0);
});

test('10,000 sequential streams without heap or RSS growth', async () => {
    const want = expectedText(5);
    async function run(n) {
        for (let i = 0; i < n; i++) {
            const s = client.stream('/v1/chat/completions?chunks=5', { json: body() });
            let t = '';
            for await (const x of s.text()) t += x;
            if (t !== want) throw new Error(`stream ${i}: wrong text ${JSON.stringify(t)}`);
        }
    }
    await run(1000); /* warm up: connection cache, JIT, allocator arenas */
    await sleep(50);
    gc();
    const m0 = process.memoryUsage();
    await run(9000);
    await sleep(50);
    gc();
    gc();
    const m1 = process.memoryUsage();
    const heap = m1.heapUsed - m0.heapUsed;
    const rss = m1.rss - m0.rss;
    assert.ok(heap < 4 * 1024 * 1024, `heap grew by ${heap} bytes`);
    assert.ok(rss < 24 * 1024 * 1024, `RSS grew by ${rss} bytes`);
});

test('worker_threads: streams in workers, exit and terminate mid-stream', async () => {
    const script = path.join(__dirname, 'worker_script.js');
    const runs = await Promise.all([0, 1].map((id) => new Promise((resolve, reject) => {
        const w = new Worker(script, { workerData: { url: mock.url, n: 20, id } });
        let msg = null;
        w.on('message', (m) => {
            msg = m;
        });
        w.on('error', reject);
        w.on('exit', (code) => resolve({ code, msg }));
    })));
    for (const r of runs) {
        assert.equal(r.code, 0, 'worker exited by itself (no handle kept alive)');
        assert.equal(r.msg.texts.length, 20);
        for (const t of r.msg.texts) assert.equal(t, expectedText(15));
    }
    /* A worker terminated while its streams run: the environment cleanup cancels them. */
    const w = new Worker(script, { workerData: { url: mock.url, n: 5, id: 9, slow: true } });
    await new Promise((resolve) => w.on('message', (m) => m === 'started' && resolve()));
    await sleep(50);
    await w.terminate();
    assert.ok(await waitFor(() => mock.stats().active === 0, 5000), 'upstreams released');
});
