'use strict';
/* toReadableStream({ format: { template } }): an app's own vocabulary (tw_encoder_new_template)
 * relayed by a real node:http server and read back by parsers. */
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('http');
const { Readable } = require('stream');
const { tw, startMock, expectedText, body, readAll, listen } = require('./helpers');

const SPEC = {
    events: {
        text: { event: 'answer_streaming', data: { token: '{text}', partial_response: '{text_so_far}', agent_id: '{constants.agent}' } },
        usage: null,
    },
    finish: { event: 'complete', data: { response: '{text_so_far}', usage: '{usage}' } },
    constants: { agent: 'a1' },
};

let mock;
test.before(() => {
    mock = startMock();
});
test.after(() => mock.stop());

/* A relay: each request streams the mock's chat completion (chunks from the query) in format. */
async function relay(format, opts = {}) {
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    const srv = http.createServer((req, res) => {
        req.resume();
        const chunks = new URL(req.url, 'http://x').searchParams.get('chunks') || '20';
        const s = c.stream('/chat/completions', { json: body(), query: { chunks } });
        res.writeHead(200, tw.streamHeaders(format));
        Readable.fromWeb(s.toReadableStream({ format, heartbeatMs: 0, ...opts })).pipe(res);
    });
    const port = await listen(srv);
    return {
        get: async (chunks) => {
            const r = await fetch(`http://127.0.0.1:${port}/?chunks=${chunks}`);
            return { headers: r.headers, bytes: Buffer.from(await r.arrayBuffer()) };
        },
        close: () => new Promise((r) => srv.close(r)),
    };
}

test('an SSE template relayed over HTTP: app events, growing partial_response, complete with text and usage', async () => {
    for (const spec of [SPEC, JSON.stringify(SPEC)]) {
        const r = await relay({ template: spec });
        try {
            const { headers, bytes } = await r.get(40);
            assert.equal(headers.get('content-type'), 'text/event-stream');
            const events = new tw.SSEParser().feed(bytes);
            const tokens = events.filter((e) => e.event === 'answer_streaming').map((e) => JSON.parse(e.data));
            assert.ok(tokens.length > 1);
            let so_far = '';
            for (const t of tokens) {
                so_far += t.token;
                assert.equal(t.partial_response, so_far);
                assert.equal(t.agent_id, 'a1');
            }
            assert.equal(so_far, expectedText(40));
            const last = events[events.length - 1];
            assert.equal(last.event, 'complete');
            assert.deepEqual(JSON.parse(last.data), {
                response: expectedText(40),
                usage: { input_tokens: 12, output_tokens: 40, total_tokens: 52 },
            });
            assert.deepEqual(events.map((e) => e.event).filter((n) => n !== 'answer_streaming'), ['complete']);
        } finally {
            await r.close();
        }
    }
});

test('an NDJSON-framed template: application/x-ndjson lines', async () => {
    const spec = { framing: 'ndjson', events: { text: { data: { t: '{text}', n: '{seq}' } } }, finish: { data: { done: true, reason: '{finish_reason}' } } };
    assert.equal(tw.streamHeaders({ template: spec })['content-type'], 'application/x-ndjson');
    const r = await relay({ template: spec });
    try {
        const { headers, bytes } = await r.get(10);
        assert.equal(headers.get('content-type'), 'application/x-ndjson');
        const text = bytes.toString();
        assert.ok(text.endsWith('\n'));
        const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(lines[lines.length - 1], { done: true, reason: 'stop' });
        const parts = lines.slice(0, -1);
        assert.deepEqual(parts.map((l) => l.n), parts.map((_, i) => i));
        assert.equal(parts.map((l) => l.t).join(''), expectedText(10));
    } finally {
        await r.close();
    }
});

test('event ids work with templates', async () => {
    const r = await relay({ template: SPEC }, { eventIds: { prefix: 'run7', firstSeq: 3 } });
    try {
        const events = new tw.SSEParser().feed((await r.get(5)).bytes);
        assert.ok(events.length > 2);
        assert.deepEqual(events.map((e) => e.id), events.map((_, i) => `run7:${i + 3}`));
    } finally {
        await r.close();
    }
});

test('a merge through a template: {source} slots', async () => {
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    const m = tw.merge({
        writer: c.stream('/chat/completions', { json: body(), query: { chunks: '7' } }),
        critic: c.stream('/chat/completions', { json: body(), query: { chunks: '9' } }),
    });
    const spec = {
        events: {
            text: { event: 'chunk', data: { agent: '{source}', t: '{text}' } },
            agent_complete: { event: 'agent_done', data: '{source}' },
        },
        finish: { event: 'all_done', data: {} },
    };
    const rs = m.toReadableStream({ format: { template: spec } });
    const events = new tw.SSEParser().feed(await readAll(rs));
    const text = { writer: '', critic: '' };
    for (const e of events.filter((x) => x.event === 'chunk')) {
        const d = JSON.parse(e.data);
        text[d.agent] += d.t;
    }
    assert.deepEqual(text, { writer: expectedText(7), critic: expectedText(9) });
    const done = events.filter((e) => e.event === 'agent_done').map((e) => JSON.parse(e.data)).sort();
    assert.deepEqual(done, ['critic', 'writer']);
    assert.equal(events[events.length - 1].event, 'all_done');
    assert.equal(events.filter((e) => e.event === 'all_done').length, 1);
});

test('a bad spec throws a TypeError with the core\'s message; nothing is consumed', async () => {
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    const s = c.stream('/chat/completions', { json: body(), query: { chunks: '3' } });
    const bad = [
        [{ events: { text: { data: '{nope}' } } }, /unknown slot/],
        [{ events: { texts: { data: 1 } } }, /unknown event type/],
        [{ framing: 'xml' }, /framing/],
        ['{"events": ', /malformed/],
    ];
    for (const [spec, msg] of bad) {
        for (const f of [() => s.toReadableStream({ format: { template: spec } }), () => tw.streamHeaders({ template: spec })]) {
            assert.throws(f, (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && msg.test(e.message));
        }
    }
    assert.throws(() => s.toReadableStream({ format: { template: 42 } }), TypeError);
    assert.throws(() => s.toReadableStream({ format: { nope: 1 } }), TypeError);
    /* The stream is still usable after the refusals. */
    const events = new tw.SSEParser().feed(await readAll(s.toReadableStream({ format: { template: SPEC }, heartbeatMs: 0 })));
    assert.equal(JSON.parse(events[events.length - 1].data).response, expectedText(3));
});

test('toResponse carries the template\'s headers', async () => {
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    const s = c.stream('/chat/completions', { json: body(), query: { chunks: '4' } });
    const res = s.toResponse({ format: { template: { framing: 'ndjson', events: { text: { data: '{text}' } } } }, heartbeatMs: 0 });
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    const lines = (await res.text()).trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.join(''), expectedText(4));
});
