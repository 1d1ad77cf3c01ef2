'use strict';
/* Event ids for resumable relays (tw_encoder_opts.event_id_prefix / first_event_seq):
 * toReadableStream({ eventIds }) on a stream and on a merge, relayed by a real node:http
 * server and read back with the SSE parser (ids in order, lastEventId = the last one) or as
 * NDJSON lines ("event_id"). */
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('http');
const { Readable } = require('stream');
const { tw, startMock, expectedText, body } = require('./helpers');

let mock;
let server;
let relay;
test.before(async () => {
    mock = startMock();
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    server = http.createServer((req, res) => {
        const u = new URL(req.url, 'http://x');
        const format = u.searchParams.get('format') || 'openai';
        const ids = JSON.parse(u.searchParams.get('ids') || 'true');
        const path = `/chat/completions?chunks=${u.searchParams.get('chunks') || '5'}`;
        let rs;
        let streamId;
        if (u.pathname === '/merge') {
            const m = tw.merge({ a: c.stream(path, { json: body() }), b: c.stream(path, { json: body() }) });
            rs = m.toReadableStream({ format, eventIds: ids });
            streamId = m.streamId;
        } else {
            const s = c.stream(path, { json: body() });
            rs = s.toReadableStream({ format, eventIds: ids });
            streamId = s.streamId;
        }
        assert.equal(rs.streamId, streamId);
        res.writeHead(200, { ...tw.streamHeaders(format), 'x-stream-id': String(streamId) });
        Readable.fromWeb(rs).pipe(res);
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    relay = `http://127.0.0.1:${server.address().port}`;
});
test.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    mock.stop();
});

async function get(path) {
    const res = await fetch(relay + path);
    assert.equal(res.status, 200);
    return { streamId: res.headers.get('x-stream-id'), text: await res.text() };
}

/* Every SSE event's id, checked to be prefix:first, prefix:first+1, ...; returns the parser. */
function checkSSE(text, prefix, first) {
    const p = new tw.SSEParser();
    const evs = p.feed(text);
    assert.ok(evs.length > 3, 'events');
    evs.forEach((e, k) => assert.equal(e.id, `${prefix}:${first + k}`, `event ${k}`));
    assert.equal(p.lastEventId, `${prefix}:${first + evs.length - 1}`);
    /* Only events carry ids: each id line starts a block that dispatches something. */
    for (const block of text.split('\n\n').filter((b) => b.length > 0))
        assert.equal(block.startsWith(':'), !block.includes('\nid: ') && !block.startsWith('id: '), block);
    return evs;
}

test('eventIds: true: a random stream id, every SSE event numbered from 0, readable by the app', async () => {
    const { streamId, text } = await get('/one?chunks=6');
    assert.match(streamId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const evs = checkSSE(text, streamId, 0);
    assert.equal(evs[evs.length - 1].data, '[DONE]');
    const textOut = evs.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data).choices[0]?.delta?.content || '').join('');
    assert.equal(textOut, expectedText(6));
    const other = await get('/one?chunks=2');
    assert.notEqual(other.streamId, streamId, 'a new id per stream');
});

test('eventIds: a string is the stream id; { prefix, firstSeq } resumes the numbering', async () => {
    let r = await get('/one?format=events&ids=' + encodeURIComponent(JSON.stringify('run-42')));
    assert.equal(r.streamId, 'run-42');
    checkSSE(r.text, 'run-42', 0);
    r = await get('/one?format=ai-sdk&ids=' + encodeURIComponent(JSON.stringify({ prefix: 'run-42', firstSeq: 17 })));
    assert.equal(r.streamId, 'run-42');
    checkSSE(r.text, 'run-42', 17);
});

test('NDJSON lines carry "event_id" in order; without eventIds there are none', async () => {
    const r = await get('/one?format=ndjson&ids=' + encodeURIComponent(JSON.stringify({ prefix: 'n', firstSeq: 3 })));
    const lines = r.text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
    assert.ok(lines.length > 3);
    lines.forEach((l, k) => assert.equal(l.event_id, `n:${3 + k}`));
    assert.equal(Object.keys(lines[0])[0], 'event_id');
    const plain = await get('/one?format=ndjson&ids=false');
    assert.equal(plain.streamId, 'null');
    assert.ok(!plain.text.includes('event_id'));
    const sse = await get('/one?ids=false');
    assert.ok(!/^id:/m.test(sse.text));
});

test('a merge numbers its events across sources; nextEventSeq follows the last id', async () => {
    const r = await get('/merge?format=events&chunks=4');
    const evs = checkSSE(r.text, r.streamId, 0);
    assert.equal(evs[evs.length - 1].event, 'complete');
    assert.equal(evs.filter((e) => e.event === 'agent_start').length, 2);

    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    const s = c.stream('/chat/completions?chunks=3', { json: body() });
    const rs = s.toReadableStream({ format: 'events', eventIds: { prefix: 'x', firstSeq: 5 } });
    assert.equal(rs.nextEventSeq(), 5);
    const p = new tw.SSEParser();
    for await (const chunk of rs) p.feed(chunk);
    assert.equal(p.lastEventId, `x:${rs.nextEventSeq() - 1}`);
    assert.equal(s.streamId, 'x');
});

test('bad eventIds are TypeErrors (a prefix with CR/LF/NUL, a negative firstSeq)', () => {
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    for (const eventIds of ['a\nb', 'a\rb', 'a\0b', '', { prefix: 'a', firstSeq: -1 }, { prefix: 'a', firstSeq: 1.5 }, 3, { firstSeq: 1 }]) {
        const s = c.stream('/chat/completions?chunks=1', { json: body() });
        assert.throws(() => s.toReadableStream({ eventIds }), TypeError, JSON.stringify(eventIds));
        s.cancel();
    }
});
