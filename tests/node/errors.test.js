'use strict';
/* One error vocabulary (the same class names as Python), and the name tables read from the
 * core instead of copied by hand. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { tw, rawServer, startMock, expectedText, readAll, body } = require('./helpers');

const CLASSES = {
    http: 'HTTPError',
    provider: 'ProviderError',
    timeout: 'TimeoutError',
    protocol: 'ProtocolError',
    cancelled: 'AbortError',
    transport: 'TransportError',
    truncated: 'TruncatedError',
};

test('the name tables come from the core', () => {
    assert.deepEqual(tw.TYPES, ['start', 'text', 'reasoning', 'tool_call', 'usage', 'finish', 'error', 'raw', 'end',
        'agent_start', 'agent_complete', 'progress']);
    assert.deepEqual(tw.KINDS, ['http', 'provider', 'timeout', 'protocol', 'cancelled', 'transport', 'truncated']);
    assert.deepEqual(tw.DIALECTS, ['openai', 'openai-responses', 'anthropic', 'gemini', 'ollama', 'sse', 'ndjson']);
    assert.deepEqual(tw.FORMATS, ['openai', 'events', 'ai-sdk', 'ndjson', 'text']);
    for (const t of [tw.TYPES, tw.KINDS, tw.DIALECTS, tw.FORMATS, tw.AUTH]) assert.ok(Object.isFrozen(t));
});

test('every error kind has its class; every class extends TokenwireError and carries the fields', () => {
    assert.equal(tw.ConnectionError, undefined, 'renamed TransportError');
    for (const kind of tw.KINDS) {
        const cls = tw[CLASSES[kind]];
        assert.equal(typeof cls, 'function', kind);
        assert.equal(tw.errorClass(kind), cls, kind);
        const e = new cls('m', { status: 503, body: '{"x":1}' });
        assert.ok(e instanceof tw.TokenwireError && e instanceof Error, kind);
        assert.equal(e.name, CLASSES[kind]);
        assert.equal(e.kind, kind);
        assert.equal(e.message, 'm');
        assert.equal(e.status, 503);
        assert.equal(e.body, '{"x":1}');
        assert.equal(typeof e.code, 'string');
    }
    assert.equal(tw.errorClass('nope'), tw.TokenwireError);
    assert.equal(new tw.TransportError('x').code, 'ERR_TRANSPORT');
    assert.equal(new tw.TruncatedError('x').code, 'ERR_TRUNCATED');
    assert.equal(new tw.AbortError().code, 'ABORT_ERR');
});

test('a refused connection is a TransportError', async () => {
    const srv = await rawServer(() => {});
    const url = srv.url;
    await srv.close();
    const s = new tw.Client({ baseURL: url, maxRetries: 0 }).stream('/x', { json: {} });
    await assert.rejects(s.fullText(), (e) => e instanceof tw.TransportError && e.kind === 'transport' &&
        e.code === 'ERR_TRANSPORT' && e.status === 0);
});

/* Two text deltas then the connection closes: no finish reason, no [DONE]. */
function truncatedAnswer() {
    const chunk = (t) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'm',
        choices: [{ index: 0, delta: { content: t }, finish_reason: null }] })}\n\n`;
    const b = chunk('Hel') + chunk('lo');
    return 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n' +
        `content-length: ${Buffer.byteLength(b)}\r\n\r\n` + b;
}

test('a stream that stops before its end marker ends with a TruncatedError, after every event', async () => {
    const srv = await rawServer((sock) => sock.end(truncatedAnswer()));
    try {
        const client = new tw.Client({ baseURL: srv.url, maxRetries: 0 });
        /* iterator */
        const s = client.stream('/x', { json: {} });
        const types = [];
        let text = '';
        await assert.rejects(async () => {
            for await (const ev of s) {
                types.push(ev.type);
                if (ev.type === 'text') text += ev.text;
            }
        }, (e) => e instanceof tw.TruncatedError && e.kind === 'truncated' && e.code === 'ERR_TRUNCATED');
        assert.equal(text, 'Hello');
        assert.deepEqual(types, ['start', 'text', 'text']);
        assert.equal(s.summary.text, 'Hello');
        assert.equal(s.summary.end, 'error');
        assert.equal(s.summary.error.kind, 'truncated');
        /* emitter */
        const e2 = client.stream('/x', { json: {} });
        const err = await new Promise((resolve) => {
            e2.on('error', resolve);
            e2.on('end', () => resolve(null));
        });
        assert.ok(err instanceof tw.TruncatedError);
        /* relay: the summary and finalSummary() say it too */
        const r = client.stream('/x', { json: {} });
        await readAll(r.toReadableStream({ format: 'ndjson' }));
        assert.equal(r.summary.error.kind, 'truncated');
        await assert.rejects(r.finalSummary(), tw.TruncatedError);
    } finally {
        await srv.close();
    }
});

test('terminal error events carry name (the provider error type); the thrown error has it as code', async () => {
    const mock = startMock();
    try {
        const c = new tw.Client({ baseURL: mock.url, dialect: 'anthropic', maxRetries: 0 });
        const s = c.stream('/v1/messages?chunks=10&fault=provider_error&fault_after=2', { json: body() });
        const events = [];
        s.on('event', (ev) => events.push(ev));
        await assert.rejects(s.fullText(), (e) => e instanceof tw.ProviderError && e.code === 'overloaded_error');
        const last = events[events.length - 1];
        assert.equal(last.type, 'error');
        assert.equal(last.kind, 'provider');
        assert.equal(last.name, 'overloaded_error');
        assert.equal(last.recoverable, false);
        assert.equal(s.summary.text, expectedText(2));
    } finally {
        mock.stop();
    }
});
