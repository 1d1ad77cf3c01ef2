'use strict';
/*
 * Issue 10 item 2 for Node: `cluster`. The primary uses tokenwire (its engine and I/O thread
 * exist) and then forks two workers; cluster forks with exec, so each worker loads a fresh
 * addon. Each worker streams through tokenwire against the primary's mock and reports the full
 * texts over IPC; the primary's own client keeps working after the fork.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const cluster = require('node:cluster');
const path = require('node:path');
const { tw, startMock, expectedText, body } = require('./helpers');

const CHUNKS = 40;
const STREAMS = 4;

let mock;
test.before(() => {
    mock = startMock(2);
});
test.after(() => mock.stop());

function runWorker() {
    const w = cluster.fork({ TW_MOCK_URL: mock.url, TW_STREAMS: String(STREAMS), TW_CHUNKS: String(CHUNKS) });
    const message = new Promise((resolve) => w.once('message', resolve));
    const exit = new Promise((resolve) => w.once('exit', (code, signal) => resolve({ code, signal })));
    return { w, message, exit };
}

test('cluster: two workers forked after the primary streamed each stream the full text', async () => {
    assert.ok(cluster.isPrimary);
    const client = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
    /* The primary's engine is running (and a stream in flight) when the workers are forked. */
    assert.equal(await client.stream(`/v1/chat/completions?chunks=${CHUNKS}`, { json: body() }).fullText(),
        expectedText(CHUNKS));
    const inflight = client.stream('/v1/chat/completions?chunks=200&delay_ms=2', { json: body() });
    const inflightText = inflight.fullText();

    cluster.setupPrimary({ exec: path.join(__dirname, 'cluster_worker.js'), silent: false });
    const workers = [runWorker(), runWorker()];
    const messages = await Promise.all(workers.map((x) => x.message));
    const pids = new Set();
    for (const m of messages) {
        assert.equal(m.error, undefined, m.error);
        pids.add(m.pid);
        assert.equal(m.texts.length, STREAMS);
        for (const t of m.texts) assert.equal(t, expectedText(CHUNKS));
        assert.equal(m.stats.streamsStarted, STREAMS, 'each worker has its own engine');
        assert.equal(m.stats.activeStreams, 0);
    }
    assert.equal(pids.size, 2);
    assert.ok(!pids.has(process.pid));
    for (const x of workers) assert.deepEqual(await x.exit, { code: 0, signal: null });

    /* The primary is unaffected. */
    assert.equal(await inflightText, expectedText(200));
    assert.equal(await client.stream(`/v1/chat/completions?chunks=${CHUNKS}`, { json: body() }).fullText(),
        expectedText(CHUNKS));
    assert.equal(mock.stats().total, 2 + 2 * STREAMS + 1);
});
