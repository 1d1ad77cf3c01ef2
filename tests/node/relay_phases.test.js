'use strict';
/* tw.Relay: relays of phases with app events, served by a real node:http server (the relay's
 * ReadableStream piped with Readable.fromWeb + pipeline) from the in-process mock: a status
 * before the first upstream (the upstream starts only once the test saw the status), two
 * phases with progress between them, one final complete carrying the text, event ids
 * continuous, one [DONE] in openai, an app vocabulary with "app" entries, a disconnect
 * mid-phase cancelling the upstream, and the typed errors. */
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('http');
const { Readable, pipeline } = require('stream');
const { tw, startMock, expectedText, body, listen, waitFor } = require('./helpers');

const CHAT = {
    framing: 'ndjson',
    events: { text: { data: { type: 'chat', content: '{text}' } } },
    app: {
        status: { data: { type: 'status', state: '{payload.state}' } },
        complete: { data: { type: 'done', response: '{text_so_far}', phases: '{payload.phases}' } },
    },
};

let mock;
let port;
let server;
const gates = new Map(); /* key -> resolve: the test lets the app start its upstream */
const outcomes = new Map(); /* key -> promise of how the app's run ended */

/* The app: a status at once, then (after the gate) two phases with progress between them and
 * one final complete. slow: one long phase, for the disconnect. */
async function run(relay, c, q) {
    relay.send('status', { state: 'thinking' });
    if (q.get('gated')) await new Promise((resolve) => gates.set(q.get('key'), resolve));
    if (q.get('slow')) {
        await relay.pipe(c.stream('/chat/completions', { json: body(), query: { chunks: '2000', delay_ms: '5' } }));
        return 'finished';
    }
    const one = await relay.pipe(c.stream('/chat/completions', { json: body(), query: { chunks: '3' } }));
    relay.progress(0.5, 'writing');
    const two = await relay.pipe(c.stream('/chat/completions', { json: body(), query: { chunks: '4' } }));
    await relay.close(['complete', { response: one.text + two.text, phases: 2 }]);
    return 'closed';
}

test.before(async () => {
    mock = startMock();
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    server = http.createServer((req, res) => {
        req.resume();
        const q = new URL(req.url, 'http://x').searchParams;
        const fmt = q.get('format') || 'events';
        const relay = new tw.Relay({
            format: fmt === 'chat' ? { template: CHAT } : fmt,
            eventIds: q.get('ids') || undefined,
            heartbeatMs: Number(q.get('hb') || 0),
        });
        res.writeHead(200, relay.headers);
        pipeline(Readable.fromWeb(relay.toReadableStream()), res, () => {});
        outcomes.set(q.get('key'), run(relay, c, q).catch((e) => e));
    });
    port = await listen(server);
});
test.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    mock.stop();
});

/* GET path; onData(bufSoFar, req) sees the body as it arrives; resolves with the body. */
function get(path, onData) {
    return new Promise((resolve, reject) => {
        const req = http.get(`http://127.0.0.1:${port}${path}`, (res) => {
            let buf = '';
            res.setEncoding('utf8');
            res.on('data', (d) => {
                buf += d;
                if (onData) onData(buf, req);
            });
            res.on('end', () => resolve({ headers: res.headers, text: buf }));
            res.on('close', () => resolve({ headers: res.headers, text: buf }));
            /* A request the test destroyed ends with 'aborted': what was read is the answer. */
            res.on('error', (e) => (req.destroyed ? resolve({ headers: res.headers, text: buf }) : reject(e)));
        });
        req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    });
}

function sseEvents(text) {
    const p = new tw.SSEParser();
    return [...p.feed(text), ...p.finish()];
}

const WANT = () => expectedText(3) + expectedText(4);

test('a status before the first upstream, two phases with progress, one final complete', async () => {
    const before = mock.stats().total;
    let released = false;
    let totalAtStatus = null;
    const { headers, text } = await get('/?key=g1&ids=r&gated=1&hb=20', (buf) => {
        /* The status and a heartbeat arrive while the app waits on its gate. */
        if (!released && buf.includes(': keepalive\n\n')) {
            released = true;
            totalAtStatus = mock.stats().total;
            assert.ok(buf.startsWith('id: r:0\nevent: status\ndata: {"state":"thinking"}\n\n'), buf);
            gates.get('g1')();
        }
    });
    assert.equal(await outcomes.get('g1'), 'closed');
    assert.equal(totalAtStatus, before, 'no upstream request before the gate');
    assert.ok(headers['content-type'].startsWith('text/event-stream'));
    const evs = sseEvents(text);
    const names = evs.map((e) => e.event);
    assert.deepEqual(evs.map((e) => e.id), evs.map((_, i) => `r:${i}`));
    assert.equal(names[0], 'status');
    assert.equal(names[names.length - 1], 'complete');
    assert.equal(names.filter((n) => n === 'complete').length, 1);
    const starts = names.flatMap((n, i) => (n === 'agent_start' ? [i] : []));
    const ends = names.flatMap((n, i) => (n === 'agent_complete' ? [i] : []));
    assert.equal(starts.length, 2);
    assert.equal(ends.length, 2);
    const prog = names.indexOf('progress');
    assert.ok(ends[0] < prog && prog < starts[1], names.join(','));
    assert.deepEqual(JSON.parse(evs[prog].data), { progress: 0.5, status: 'writing' });
    const streamed = evs.filter((e) => e.event === 'agent_chunk').map((e) => JSON.parse(e.data))
        .filter((d) => d.type === 'text').map((d) => d.text).join('');
    assert.equal(streamed, WANT());
    assert.deepEqual(JSON.parse(evs[evs.length - 1].data), { response: WANT(), phases: 2 });
    assert.equal(await waitFor(() => mock.stats().total === before + 2 && mock.stats().active === 0), true);
});

test('openai: one [DONE] at the very end, app events by name, the text of both phases', async () => {
    const { text } = await get('/?key=o1&format=openai');
    assert.equal(await outcomes.get('o1'), 'closed');
    const evs = sseEvents(text);
    const datas = evs.map((e) => e.data);
    assert.equal(datas.filter((d) => d === '[DONE]').length, 1);
    assert.equal(datas[datas.length - 1], '[DONE]');
    assert.deepEqual(evs.filter((e) => e.event !== 'message').map((e) => e.event), ['status', 'progress', 'complete']);
    const content = evs.filter((e) => e.event === 'message' && e.data !== '[DONE]')
        .map((e) => JSON.parse(e.data).choices[0])
        .filter(Boolean).map((ch) => ch.delta.content || '').join('');
    assert.equal(content, WANT());
});

test('ai-sdk: one start and one finish, a step per phase', async () => {
    const { headers, text } = await get('/?key=a1&format=ai-sdk');
    assert.equal(headers['x-vercel-ai-ui-message-stream'], 'v1');
    const datas = sseEvents(text).map((e) => e.data);
    assert.equal(datas[datas.length - 1], '[DONE]');
    const kinds = datas.slice(0, -1).map((d) => JSON.parse(d).type);
    assert.equal(kinds.filter((k) => k === 'start').length, 1);
    assert.equal(kinds.filter((k) => k === 'finish').length, 1);
    assert.equal(kinds.filter((k) => k === 'start-step').length, 2);
    assert.deepEqual(kinds.slice(-2), ['data-complete', 'finish']);
});

test('an app vocabulary: a template with "app" entries, ndjson with continuous ids', async () => {
    const { headers, text } = await get('/?key=t1&format=chat&ids=n');
    assert.equal(headers['content-type'], 'application/x-ndjson');
    const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((x) => x.event_id), lines.map((_, i) => `n:${i}`));
    assert.deepEqual(lines[0], { event_id: 'n:0', type: 'status', state: 'thinking' });
    /* progress has no entry: passed through as { event, data }. */
    const prog = lines.filter((x) => x.event === 'progress');
    assert.deepEqual(prog, [{ event_id: prog[0].event_id, event: 'progress', data: { progress: 0.5, status: 'writing' } }]);
    assert.equal(lines.filter((x) => x.type === 'chat').map((x) => x.content).join(''), WANT());
    const done = lines[lines.length - 1];
    assert.equal(done.type, 'done');
    assert.equal(done.response, WANT());
    assert.equal(done.phases, 2);
});

test('the reader going away mid-phase cancels the upstream; pipe() rejects with AbortError', async () => {
    const before = mock.stats().aborted;
    await get('/?key=d1&slow=1', (buf, req) => {
        if ((buf.match(/event: agent_chunk/g) || []).length >= 3) req.destroy();
    });
    const outcome = await outcomes.get('d1');
    assert.ok(outcome instanceof tw.AbortError, String(outcome));
    assert.equal(await waitFor(() => mock.stats().aborted > before && mock.stats().active === 0), true,
        JSON.stringify(mock.stats()));
});

test('typed errors: bad payload, bad name, send / pipe / close after close', async () => {
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    const relay = new tw.Relay({ format: 'events', heartbeatMs: 0 });
    assert.throws(() => relay.send('x', { a: 1n }), TypeError);
    const cyc = {};
    cyc.self = cyc;
    assert.throws(() => relay.send('x', cyc), TypeError);
    assert.throws(() => relay.send('a\nb', 1), { name: 'TypeError', message: /control characters/ });
    assert.throws(() => relay.progress(2), TypeError);
    assert.throws(() => relay.pipe('not a stream'), TypeError);
    assert.throws(() => new tw.Relay({ heartbeat: 5 }), TypeError);
    const s = c.stream('/chat/completions', { json: body(), query: { chunks: '2' } });
    const rs = relay.toReadableStream();
    assert.throws(() => relay.toReadableStream(), TypeError);
    const reading = new Response(rs).text();
    relay.send('status', { ok: true });
    const summary = await relay.pipe(s);
    assert.equal(summary.text, expectedText(2));
    assert.throws(() => relay.pipe(s), TypeError); /* already relayed */
    await assert.rejects(relay.close(['complete', { n: 1n }]), TypeError); /* stays open */
    await relay.close(['complete', { n: 1 }]);
    assert.throws(() => relay.send('x', 1), tw.RelayClosedError);
    assert.throws(() => relay.progress(0.1), { name: 'RelayClosedError', code: 'ERR_TOKENWIRE' });
    await assert.rejects(relay.close(), tw.RelayClosedError);
    const s3 = c.stream('/chat/completions', { json: body() });
    assert.throws(() => relay.pipe(s3), tw.RelayClosedError);
    s3.cancel();
    const out = await reading;
    assert.ok(out.startsWith('event: status\n'), out);
    assert.ok(out.endsWith('event: complete\ndata: {"n":1}\n\n'), out);
    assert.ok(tw.RelayClosedError.prototype instanceof tw.TokenwireError);
});

test('tw.Encoder with phases: send / progress / close; errors from the core', () => {
    const e = new tw.Encoder('ndjson', { phases: true, eventIds: 'e' });
    assert.equal(e.send('status', { s: 1 }).toString(), '{"event_id":"e:0","event":"status","data":{"s":1}}\n');
    assert.equal(e.progress(1).toString(), '{"event_id":"e:1","event":"progress","data":{"progress":1}}\n');
    assert.throws(() => e.send('x', () => 1), TypeError);
    assert.equal(e.close(['done', [1]]).toString(), '{"event_id":"e:2","event":"done","data":[1]}\n');
    assert.throws(() => e.send('x', 1), { code: 'ERR_TOKENWIRE', message: /closed/ });
    assert.throws(() => e.close(), { code: 'ERR_TOKENWIRE', message: /closed/ });
    const m = new tw.Encoder('events', { phases: true, messages: true });
    assert.deepEqual(m.send('a', 1), ['{"event":"a","data":1}']);
});

test('a merge() as one phase: its agents framed, then the relay goes on', async () => {
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    const relay = new tw.Relay({ format: 'events', eventIds: 'm', heartbeatMs: 0 });
    const reading = new Response(relay.toReadableStream()).text();
    const results = await relay.pipe(tw.merge({
        a: c.stream('/chat/completions', { json: body(), query: { chunks: '3' } }),
        b: c.stream('/chat/completions', { json: body(), query: { chunks: '4' } }),
    }));
    assert.deepEqual(Object.keys(results).sort(), ['a', 'b']);
    relay.send('between', { n: 1 });
    await relay.pipe(c.stream('/chat/completions', { json: body(), query: { chunks: '2' } }));
    await relay.close();
    const evs = sseEvents(await reading);
    assert.deepEqual(evs.map((e) => e.id), evs.map((_, i) => `m:${i}`));
    const names = evs.map((e) => e.event);
    assert.equal(names.filter((n) => n === 'agent_start').length, 3);
    assert.equal(names.filter((n) => n === 'agent_complete').length, 3);
    assert.equal(names.filter((n) => n === 'complete').length, 1);
    assert.equal(names[names.length - 1], 'complete');
    const by = (src) => evs.filter((e) => e.event === 'agent_chunk').map((e) => JSON.parse(e.data))
        .filter((d) => d.type === 'text' && d.agent === src).map((d) => d.text).join('');
    assert.equal(by('a'), expectedText(3));
    assert.equal(by('b'), expectedText(4));
    assert.ok(names.indexOf('between') > names.lastIndexOf('agent_complete', names.indexOf('between')));
});
