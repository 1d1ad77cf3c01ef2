'use strict';
/* tw.Encoder, the core's encoders for an app's own loop: the bytes a relay writes, the
 * messages a WebSocket relay sends (one per event), heartbeat, finish, headers, event ids,
 * template constants, and typed errors for bad input. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { tw, startMock, expectedText, body, readAll } = require('./helpers');

let mock;
let client;
test.before(() => {
    mock = startMock();
    client = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
});
test.after(() => mock.stop());

const upstream = (chunks) =>
    client.stream('/v1/chat/completions', { json: body(), query: { chunks: String(chunks) } });

async function decoded(chunks) {
    const evs = [];
    for await (const ev of upstream(chunks)) evs.push(ev);
    return evs;
}

/* The SSE events of a byte stream as {event, id, data} (data parsed when JSON). */
function sseEvents(text) {
    return text.split('\n\n').filter((b) => b && !b.startsWith(':')).map((b) => {
        const o = {};
        for (const line of b.split('\n')) {
            const i = line.indexOf(': ');
            const [k, v] = [line.slice(0, i), line.slice(i + 2)];
            if (k === 'data') {
                try {
                    o.data = JSON.parse(v);
                } catch (e) {
                    o.data = v;
                }
            } else o[k] = v;
        }
        return o;
    });
}

test('bytes: what toReadableStream writes for the same events', async () => {
    /* The iterator does not yield the terminal end event; a relay encodes it. */
    const evs = [...(await decoded(5)), { type: 'end' }];
    const enc = new tw.Encoder('ndjson');
    const mine = Buffer.concat([enc.encode(evs), enc.finish()]).toString();
    const relayed = (await readAll(upstream(5).toReadableStream({ format: 'ndjson' }))).toString();
    /* The mock numbers its responses (chatcmpl-mockN). */
    const sameId = (t) => t.replace(/chatcmpl-mock\d+/, 'chatcmpl-mock');
    assert.equal(sameId(mine), sameId(relayed));
    assert.ok(mine.includes(JSON.stringify(expectedText(5).slice(0, 5))));
    assert.equal(enc.headers['content-type'], 'application/x-ndjson');
    /* One event at a time gives the same bytes as the batch. */
    const one = new tw.Encoder('ndjson');
    const parts = evs.map((e) => one.encode(e));
    assert.equal(Buffer.concat(parts).toString() + one.finish().toString(), mine);
});

test('messages: one string per SSE event, ids inside, the events of the bytes', async () => {
    const evs = await decoded(4);
    const bytes = new tw.Encoder('events', { eventIds: 's' });
    const msgs = new tw.Encoder('events', { eventIds: 's', messages: true });
    const text = Buffer.concat([bytes.encode(evs), bytes.finish()]).toString();
    const got = [...msgs.encode(evs), ...msgs.finish()];
    assert.ok(got.every((m) => typeof m === 'string'));
    assert.deepEqual(got.map((m) => JSON.parse(m)), sseEvents(text));
    assert.equal(msgs.streamId, 's');
    assert.equal(msgs.nextEventSeq, got.length);
    assert.equal(new tw.Encoder('events').nextEventSeq, null);
    /* openai ends with [DONE] as a JSON string; text sends each delta as it is. */
    const oa = new tw.Encoder('openai', { messages: true });
    const last = [...oa.encode(evs), ...oa.finish()].pop();
    assert.deepEqual(JSON.parse(last), { data: '[DONE]' });
    const tx = new tw.Encoder('text', { messages: true });
    const deltas = tx.encode(evs);
    assert.equal(deltas.join(''), expectedText(4));
    assert.equal(deltas.length, evs.filter((e) => e.type === 'text').length);
});

test('heartbeat, finish once, encode after finish refused', () => {
    const sse = new tw.Encoder('events');
    assert.equal(sse.heartbeat().toString(), ': keepalive\n\n');
    assert.deepEqual(new tw.Encoder('events', { messages: true }).heartbeat(), []);
    assert.equal(new tw.Encoder('ndjson').heartbeat().length, 0);
    const e = new tw.Encoder('openai', { messages: true });
    assert.ok(e.finish().length > 0);
    assert.deepEqual(e.finish(), []);
    assert.throws(() => e.encode({ type: 'text', text: 'x', index: 0 }),
        { code: 'ERR_TOKENWIRE', message: /closed/ });
});

test('templates: framing decides the headers; constants per encoder; unicode kept', () => {
    const spec = { framing: 'ndjson', constants: { agent: 'a', task: null },
        events: { text: { data: { agent: '{constants.agent}', task: '{constants.task}',
            t: '{text}' } } } };
    const e = new tw.Encoder({ template: spec }, { messages: true,
        constants: { agent: 'zed', task: { id: 7 } } });
    assert.deepEqual(e.encode([{ type: 'text', text: 'hé 🙂', index: 0 }]),
        ['{"agent":"zed","task":{"id":7},"t":"hé 🙂"}']);
    assert.equal(e.headers['content-type'], 'application/x-ndjson');
    const sse = new tw.Encoder({ template: JSON.stringify({ events: {} }) });
    assert.equal(sse.headers['content-type'], 'text/event-stream');
});

test('bad input: typed errors, nothing encoded', () => {
    assert.throws(() => new tw.Encoder('nope'), TypeError);
    assert.throws(() => new tw.Encoder({ template: '{bad' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => new tw.Encoder({ template: { events: { nope: { data: 1 } } } }),
        { code: 'ERR_INVALID_ARG_VALUE' });
    const spec = { template: { constants: { a: 1 }, events: {} } };
    assert.throws(() => new tw.Encoder(spec, { constants: { b: 1 } }), /unknown constant/);
    const fn = () => 1;
    assert.throws(() => new tw.Encoder(spec, { constants: { a: fn } }), /not JSON-serializable/);
    assert.throws(() => new tw.Encoder(spec, { constants: { a: 1n } }), /not JSON-serializable/);
    assert.throws(() => new tw.Encoder('events', { constants: { a: 1 } }), /template/);
    assert.throws(() => new tw.Encoder('events', { eventIds: 'a\nb' }), TypeError);
    assert.throws(() => new tw.Encoder('events', null), TypeError);
    const e = new tw.Encoder('ndjson', { messages: true });
    assert.throws(() => e.encode([{ type: 'text', text: 'a', index: 0 }, 42]), TypeError);
    assert.throws(() => e.encode({ type: 'nope' }), TypeError);
    /* A refused batch leaves no message behind for the next call. */
    assert.deepEqual(e.encode([{ type: 'text', text: 'b', index: 0 }]),
        ['{"type":"text","index":0,"text":"b"}']);
});
