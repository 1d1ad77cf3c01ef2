'use strict';
/* tw.websocketRelay on a real node:http server with the `ws` package, read by real `ws`
 * clients: one message per event in a template vocabulary and the built-in formats (ids
 * inside), several relays on one socket, a merge, cancel / ping / other client messages, a
 * client that goes away mid-stream (the mock's stats show the abort), protocol keep-alive,
 * backpressure (a client that stops reading pauses the upstream; nothing is lost). */
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { once } = require('node:events');
const { WebSocket, WebSocketServer } = require('ws');
const { tw, startMock, expectedText, body, waitFor, listen } = require('./helpers');

/* Small engine watermarks so a paused upstream shows quickly (this file has its own process). */
tw.configure({ queueHighWatermark: 256 * 1024, queueLowWatermark: 64 * 1024 });

/* The app's own vocabulary (the same as tests/python/helpers/vocab.py's WS_AGENT). */
const WS_AGENT = {
    framing: 'ndjson',
    constants: { agent: 'researcher' },
    events: {
        start: { data: { type: 'agent_processing_started', agent: '{constants.agent}' } },
        text: { data: { type: 'agent_processing_update', agent: '{constants.agent}',
            chunk: '{text}', length: '{length}' } },
        error: { data: { type: 'error', kind: '{kind}', message: '{text}' } },
    },
    finish: { data: { type: 'agent_processing_complete', agent: '{constants.agent}',
        text: '{text_so_far}' } },
};

let mock;
let client;
let server;
let url;
const results = []; /* every relay's result, in order, with waiters */
let resultWaiters = [];

/* The server's relay options per prompt: { chunks, delay, format, ids, constants, agents,
 * pingMs, highWatermark }. After a relay that did not lose its client it reports
 * { type: 'relay_done', ... } and waits for the next prompt on the same socket. */
function relayOptions(p) {
    const o = { format: p.format === 'agent' ? { template: WS_AGENT } : p.format };
    if (p.ids !== undefined) o.eventIds = p.ids;
    if (p.constants) o.constants = p.constants;
    if (p.pingMs) o.pingMs = p.pingMs;
    if (p.highWatermark) o.highWatermark = p.highWatermark;
    return o;
}

function upstream(chunks, delay) {
    const query = { chunks: String(chunks) };
    if (delay) query.delay_ms = String(delay);
    return client.stream('/v1/chat/completions', { json: body(), query });
}

function serve(ws) {
    ws.once('message', async (data) => {
        const p = JSON.parse(data.toString());
        const agents = Object.entries(p.agents || {}).map(([n, c]) => [n, upstream(c)]);
        const source = p.agents ? tw.merge(Object.fromEntries(agents))
            : upstream(p.chunks, p.delay);
        /* The most bytes the socket ever held unsent during the relay. */
        let maxBuffered = 0;
        const send = ws.send;
        ws.send = function (...args) {
            send.apply(this, args);
            maxBuffered = Math.max(maxBuffered, this.bufferedAmount);
        };
        const r = await tw.websocketRelay(ws, source, relayOptions(p));
        ws.send = send;
        results.push(r);
        for (const w of resultWaiters) w();
        resultWaiters = [];
        if (r.reason === 'disconnected') return;
        ws.send(JSON.stringify({ type: 'relay_done', maxBuffered, ...r }));
        serve(ws);
    });
}

/* Resolves with the n-th relay result (0-based) once it is there. */
async function result(n) {
    while (results.length <= n) await new Promise((r) => resultWaiters.push(r));
    return results[n];
}

test.before(async () => {
    mock = startMock();
    client = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
    server = http.createServer();
    new WebSocketServer({ server }).on('connection', serve);
    url = `ws://127.0.0.1:${await listen(server)}`;
});
test.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    mock.stop();
});

/* A ws client whose text messages queue up for next(); next() gives null once it closed. */
async function connect(opts) {
    const c = new WebSocket(url, opts);
    const q = [];
    let waiter = null;
    let closed = false;
    const wake = () => {
        if (waiter) waiter();
        waiter = null;
    };
    c.on('message', (d) => {
        q.push(d.toString());
        wake();
    });
    c.on('close', () => {
        closed = true;
        wake();
    });
    await once(c, 'open');
    c.next = async () => {
        while (q.length === 0 && !closed) await new Promise((r) => (waiter = r));
        return q.length ? q.shift() : null;
    };
    /* Sends a prompt; resolves with [the relay's messages, the server's relay_done]. */
    c.relay = async (prompt) => {
        c.send(JSON.stringify(prompt));
        const got = [];
        for (;;) {
            const m = await c.next();
            assert.notEqual(m, null, 'the socket closed before relay_done');
            let obj = null;
            try {
                obj = JSON.parse(m);
            } catch (e) {
                obj = null;
            }
            if (obj && obj.type === 'relay_done') return [got, obj];
            got.push(m);
        }
    };
    return c;
}

/* The events tokenwire decodes for the same upstream request. */
async function decoded(chunks) {
    const evs = [];
    for await (const ev of upstream(chunks)) evs.push(ev);
    return evs;
}

const byteLen = (s) => Buffer.byteLength(s);

test('template vocabulary: exact messages, per-relay constants, relays on one socket', async () => {
    const want = [];
    let soFar = '';
    for (const e of await decoded(6)) {
        const agent = 'researcher';
        if (e.type === 'start')
            want.push(JSON.stringify({ type: 'agent_processing_started', agent }));
        else if (e.type === 'text') {
            soFar += e.text;
            want.push(JSON.stringify({ type: 'agent_processing_update', agent, chunk: e.text,
                length: byteLen(soFar) }));
        }
    }
    want.push(JSON.stringify({ type: 'agent_processing_complete', agent: 'researcher',
        text: soFar }));
    const c = await connect();
    const [got, done] = await c.relay({ format: 'agent', chunks: 6 });
    const [again] = await c.relay({ format: 'agent', chunks: 6, constants: { agent: 'writer' } });
    c.close();
    assert.deepEqual(got, want);
    assert.equal(done.reason, 'end');
    assert.deepEqual(done.messages, []);
    assert.deepEqual(again, want.map((m) => m.replace('"agent":"researcher"', '"agent":"writer"')));
});

test('built-in formats: events with ids, openai, text, ndjson ids from a first seq', async () => {
    let c = await connect();
    let [got, done] = await c.relay({ format: 'events', chunks: 4, ids: 'w' });
    let objs = got.map((m) => JSON.parse(m));
    assert.deepEqual(objs.map((o) => o.id), objs.map((_, i) => `w:${i}`));
    assert.equal(done.streamId, 'w');
    assert.equal(done.firstEventSeq, 0);
    assert.equal(done.nextEventSeq, objs.length);
    assert.equal(objs[0].event, 'agent_start');
    assert.equal(objs[objs.length - 1].event, 'complete');
    const chunkText = (os) =>
        os.filter((o) => o.event === 'agent_chunk').map((o) => o.data.text || '').join('');
    assert.equal(chunkText(objs), expectedText(4));
    /* The next prompt on the same socket: nothing of it was taken by the first relay. */
    [got] = await c.relay({ format: 'events', chunks: 3 });
    objs = got.map((m) => JSON.parse(m));
    assert.ok(!('id' in objs[0]));
    assert.equal(chunkText(objs), expectedText(3));
    c.close();

    c = await connect();
    [got] = await c.relay({ format: 'openai', chunks: 3 });
    assert.deepEqual(JSON.parse(got[got.length - 1]), { data: '[DONE]' });
    const chunks = got.slice(0, -1).map((m) => JSON.parse(m).data);
    assert.ok(chunks.every((ch) => ch.object === 'chat.completion.chunk'));
    const content = chunks.filter((ch) => ch.choices.length)
        .map((ch) => ch.choices[0].delta.content || '');
    assert.equal(content.join(''), expectedText(3));
    [got] = await c.relay({ format: 'text', chunks: 5 });
    assert.equal(got.length, 5);
    assert.equal(got.join(''), expectedText(5));
    const ids = { prefix: 'n', firstSeq: 10 };
    [got, done] = await c.relay({ format: 'ndjson', chunks: 3, ids });
    objs = got.map((m) => JSON.parse(m));
    assert.deepEqual(objs.map((o) => o.event_id), objs.map((_, i) => `n:${10 + i}`));
    assert.equal(done.nextEventSeq, 10 + objs.length);
    c.close();
});

test('a merge over a WebSocket: each agent framed, one final complete', async () => {
    const c = await connect();
    const [got, done] = await c.relay({ format: 'events', agents: { researcher: 3, writer: 4 } });
    c.close();
    assert.equal(done.reason, 'end');
    const objs = got.map((m) => JSON.parse(m));
    for (const [agent, n] of [['researcher', 3], ['writer', 4]]) {
        const mine = objs.slice(0, -1).filter((o) => o.data.agent === agent);
        assert.equal(mine[0].event, 'agent_start');
        assert.equal(mine[mine.length - 1].event, 'agent_complete');
        const text = mine.filter((o) => o.event === 'agent_chunk').map((o) => o.data.text || '');
        assert.equal(text.join(''), expectedText(n));
    }
    assert.equal(objs[objs.length - 1].event, 'complete');
    assert.equal(objs.filter((o) => o.event === 'complete').length, 1);
});

test('ping answered with pong, other messages kept, cancel ends with the format', async () => {
    const aborted = mock.stats().aborted;
    const c = await connect();
    c.send(JSON.stringify({ format: 'events', chunks: 100000, delay: 2 }));
    assert.equal(JSON.parse(await c.next()).event, 'agent_start');
    c.send(JSON.stringify({ type: 'ping', t: 7 }));
    let m;
    while ((m = JSON.parse(await c.next())).type !== 'pong') assert.equal(m.event, 'agent_chunk');
    assert.deepEqual(m, { type: 'pong', t: 7 });
    c.send(JSON.stringify({ hello: 1 }));
    c.send('not json');
    c.send(Buffer.from([1, 2, 3]), { binary: true });
    c.send(JSON.stringify({ type: 'cancel' }));
    const rest = [];
    while ((m = JSON.parse(await c.next())).type !== 'relay_done') rest.push(m);
    c.close();
    assert.equal(m.reason, 'cancelled');
    assert.deepEqual(m.messages.slice(0, 2), [{ hello: 1 }, 'not json']);
    assert.equal(m.messages.length, 3); /* the binary one, as received */
    const last = rest[rest.length - 1];
    assert.equal(last.event, 'complete');
    assert.ok(rest.some((o) => o.event === 'error' && o.data.kind === 'cancelled'),
        'the cancelled end is relayed');
    assert.ok(await waitFor(() => mock.stats().aborted > aborted), 'the upstream was aborted');
});

test('a client closing mid-stream cancels the upstream; relay resolves disconnected', async () => {
    const n = results.length;
    const aborted = mock.stats().aborted;
    const c = await connect();
    c.send(JSON.stringify({ format: 'ndjson', chunks: 100000, delay: 2 }));
    await c.next();
    await c.next();
    c.terminate();
    const r = await result(n);
    assert.equal(r.reason, 'disconnected');
    assert.ok(await waitFor(() => mock.stats().aborted > aborted), 'the upstream was aborted');
    assert.ok(await waitFor(() => mock.stats().active === 0));
});

test('protocol keep-alive: pings while relaying; a client never answering is dropped', async () => {
    let c = await connect();
    let pings = 0;
    c.on('ping', () => pings++);
    const [got, done] = await c.relay({ format: 'text', chunks: 40, delay: 10, pingMs: 20 });
    c.close();
    assert.equal(done.reason, 'end');
    assert.equal(got.join(''), expectedText(40));
    assert.ok(pings >= 2, `the client saw ${pings} pings`);

    const n = results.length;
    const aborted = mock.stats().aborted;
    c = await connect({ autoPong: false });
    const closed = once(c, 'close');
    c.send(JSON.stringify({ format: 'text', chunks: 100000, delay: 2, pingMs: 20 }));
    await closed; /* the server terminated the socket */
    assert.equal((await result(n)).reason, 'disconnected');
    assert.ok(await waitFor(() => mock.stats().aborted > aborted), 'the upstream was aborted');
});

test('backpressure: a client that stops reading pauses the upstream; nothing lost', async () => {
    const N = 100000;
    const c = await connect();
    c.send(JSON.stringify({ format: 'events', chunks: N, ids: 'b', highWatermark: 64 * 1024 }));
    assert.equal(JSON.parse(await c.next()).event, 'agent_start');
    c._socket.pause();
    assert.ok(await waitFor(() => tw.stats().pausedStreams > 0, 20000),
        'the engine paused the upstream');
    c._socket.resume();
    const texts = [];
    let seq = 1;
    let m;
    while ((m = JSON.parse(await c.next())).type !== 'relay_done') {
        assert.equal(m.id, `b:${seq++}`); /* none lost, none reordered */
        if (m.event === 'agent_chunk') texts.push(m.data.text || '');
    }
    c.close();
    assert.equal(m.reason, 'end');
    assert.equal(m.nextEventSeq, seq);
    /* The relay stopped taking batches past the watermark: the socket held at most the
     * watermark plus one batch (without backpressure it holds megabytes). */
    assert.ok(m.maxBuffered < 64 * 1024 + 1024 * 1024, `the socket held ${m.maxBuffered} bytes`);
    assert.equal(texts.join(''), expectedText(N));
});

test('bad arguments throw before anything is sent', async () => {
    const fake = { send() {}, on() {}, readyState: 1, bufferedAmount: 0 };
    assert.throws(() => tw.websocketRelay(fake, {}), TypeError);
    assert.throws(() => tw.websocketRelay({}, upstream(1)), TypeError);
    assert.throws(() => tw.websocketRelay(fake, upstream(1), { format: 'nope' }), TypeError);
    assert.throws(() => tw.websocketRelay(fake, upstream(1), { format: { template: '{not json' } }),
        { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => tw.websocketRelay(fake, upstream(1), { format: { template: WS_AGENT },
        constants: { agent: 1n } }), /not JSON-serializable/);
    assert.throws(() => tw.websocketRelay(fake, upstream(1), { format: { template: WS_AGENT },
        constants: { nope: 1 } }), /unknown constant/);
    assert.throws(() => tw.websocketRelay(fake, upstream(1), { pingMs: -1 }), TypeError);
    const s = upstream(1);
    s.toReadableStream();
    assert.throws(() => tw.websocketRelay(fake, s), /already being consumed/);
    s.cancel();
});
