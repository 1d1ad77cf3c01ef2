'use strict';
/* The summary of a stream is the core's (tw_stream_summary), whatever consumes the stream:
 * emitter, iterator, text(), toReadableStream() with or without listeners, merge() as events
 * or as bytes (issue 11 bug 4). `text` listeners fire on every one of those paths. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { tw, startMock, expectedText, readAll, body } = require('./helpers');

let mock;
test.before(() => {
    mock = startMock();
});
test.after(() => mock.stop());

function reasoning(n) {
    let s = '';
    for (let k = 0; k < n; k++) s += `Thinking about part ${k + 1}. `;
    return s;
}

/* anthropic: reasoning, text and tool calls; stop_reason tool_use; usage without a total. */
const PATH = '/v1/messages?chunks=12&tools=2&reasoning=3';
const client = () => new tw.Client({ baseURL: mock.url, dialect: 'anthropic', apiKey: 'k', maxRetries: 0 });

/* What must not differ between two requests: all but metrics and the response id. */
function withoutMetrics(summary) {
    const { metrics, id, ...rest } = summary;
    assert.ok(metrics && typeof metrics.ttft === 'number', 'metrics are part of the summary');
    assert.match(id, /^msg_mock/);
    return rest;
}

/* Every way to consume a stream; each resolves with [summary, text heard by on('text')]. */
const PATHS = {
    async emitter(s, heard) {
        s.on('text', (t) => heard.push(t));
        return new Promise((resolve, reject) => {
            s.on('end', resolve);
            s.on('error', reject);
        });
    },
    async iterator(s, heard) {
        s.on('text', (t) => heard.push(t));
        for await (const ev of s) assert.ok(ev.type);
        return s.summary;
    },
    async textIterator(s, heard) {
        s.on('text', (t) => heard.push(t));
        let got = '';
        for await (const t of s.text()) got += t;
        assert.equal(got, expectedText(12));
        return s.summary;
    },
    async readableNoListener(s) {
        await readAll(s.toReadableStream({ format: 'openai' }));
        return s.summary;
    },
    async readableListenerBefore(s, heard) {
        s.on('text', (t) => heard.push(t));
        await readAll(s.toReadableStream({ format: 'ndjson' }));
        return s.summary;
    },
    async readableListenerAfter(s, heard) {
        const rs = s.toReadableStream({ format: 'ai-sdk' });
        s.on('text', (t) => heard.push(t));
        await readAll(rs);
        return s.summary;
    },
    async finalSummary(s) {
        return s.finalSummary();
    },
};

test('the summary is the same, from the core, on every consumption path', async () => {
    const results = {};
    for (const [name, consume] of Object.entries(PATHS)) {
        const heard = [];
        const s = client().stream(PATH, { json: body() });
        const summary = await consume(s, heard);
        assert.equal(s.summary, summary, `${name}: s.summary is the summary given at the end`);
        results[name] = withoutMetrics(summary);
        if (name !== 'readableNoListener' && name !== 'finalSummary')
            assert.equal(heard.join(''), expectedText(12), `${name}: on('text') heard every delta`);
    }
    const want = results.emitter;
    assert.equal(want.text, expectedText(12));
    assert.equal(want.reasoning, reasoning(3));
    assert.equal(want.toolCalls.length, 2);
    assert.deepEqual(want.toolCalls.map((t) => [t.index, t.id, t.name]),
        [[want.toolCalls[0].index, 'toolu_mock_0', 'get_weather'], [want.toolCalls[1].index, 'toolu_mock_1', 'get_weather']]);
    for (const t of want.toolCalls) JSON.parse(t.arguments);
    assert.equal(want.finishReason, 'tool_calls', 'normalized');
    assert.equal(want.finishReasonRaw, 'tool_use', 'as the provider spelled it');
    assert.equal(want.usage.inputTokens, 12);
    assert.ok(want.usage.outputTokens > 0);
    assert.equal(want.usage.totalTokens, want.usage.inputTokens + want.usage.outputTokens, 'derived total');
    assert.equal(want.end, 'end');
    assert.equal(want.error, null);
    assert.equal(want.recoverableErrors, 0);
    assert.equal(want.model, 'mock-model');
    assert.deepEqual(want.choices, [{ index: 0, text: want.text, reasoning: want.reasoning,
        finishReason: 'tool_calls', finishReasonRaw: 'tool_use' }]);
    for (const [name, got] of Object.entries(results)) assert.deepEqual(got, want, name);
});

test('merge(): each source keeps its summary, as events and as bytes; text listeners fire', async () => {
    for (const asBytes of [false, true]) {
        const c = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
        const a = c.stream('/v1/chat/completions?chunks=5&tools=1', { json: body() });
        const b = c.stream('/v1/chat/completions?chunks=9', { json: body() });
        const heard = { a: '', b: '' };
        a.on('text', (t) => (heard.a += t));
        b.on('text', (t) => (heard.b += t));
        const m = tw.merge({ a, b });
        const ended = new Promise((resolve) => m.on('end', resolve));
        if (asBytes) await readAll(m.toReadableStream());
        else for await (const ev of m) assert.ok(ev.source);
        const results = await ended;
        assert.equal(results.a.summary.text, expectedText(5), `bytes=${asBytes}`);
        assert.equal(results.a.summary.toolCalls.length, 1);
        assert.equal(results.a.summary.finishReason, 'tool_calls');
        assert.equal(results.b.summary.text, expectedText(9));
        assert.equal(results.b.summary.finishReason, 'stop');
        assert.ok(results.b.summary.usage.totalTokens > 0);
        assert.equal(a.summary, results.a.summary);
        assert.deepEqual(heard, { a: expectedText(5), b: expectedText(9) }, `bytes=${asBytes}`);
    }
});

test('n=2: summary.text is choice 0, each choice keeps its own text and finish reason', async () => {
    const c = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
    const s = c.stream('/v1/chat/completions?chunks=6&choices=2', { json: body() });
    await readAll(s.toReadableStream({ format: 'ndjson' }));
    const sum = s.summary;
    assert.equal(sum.choices.length, 2);
    assert.equal(sum.text, sum.choices[0].text);
    assert.equal(sum.choices[0].text, expectedText(6));
    assert.notEqual(sum.choices[1].text, sum.choices[0].text);
    assert.ok(sum.choices[1].text.length > 0);
    assert.deepEqual(sum.choices.map((ch) => ch.finishReason), ['stop', 'stop']);
});

test('accumulate: false: text and reasoning null on every path, the rest kept', async () => {
    const c = new tw.Client({ baseURL: mock.url, dialect: 'anthropic', maxRetries: 0, accumulate: false });
    for (const consume of [PATHS.readableNoListener, PATHS.emitter]) {
        const s = c.stream(PATH, { json: body() });
        const sum = await consume(s, []);
        assert.equal(sum.text, null);
        assert.equal(sum.reasoning, null);
        assert.equal(sum.choices[0].text, null);
        assert.equal(sum.toolCalls.length, 2);
        assert.equal(sum.finishReason, 'tool_calls');
        assert.ok(sum.usage.totalTokens > 0);
    }
});

test('metrics: streamed, generationTime, tokensPerSecond', async () => {
    const c = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
    const s = c.stream('/v1/chat/completions?chunks=20&delay_ms=2', { json: body() });
    const sum = await s.finalSummary();
    assert.equal(sum.metrics.streamed, true);
    assert.ok(sum.metrics.generationTime > 0, String(sum.metrics.generationTime));
    assert.ok(sum.metrics.tokensPerSecond > 0, String(sum.metrics.tokensPerSecond));
    assert.ok(sum.metrics.generationTime <= sum.metrics.duration);

    const unary = c.stream('/v1/chat/completions?chunks=4', { json: body({ stream: false }) });
    const u = await unary.finalSummary();
    assert.equal(u.text, expectedText(4));
    assert.equal(u.metrics.streamed, false, 'one JSON body, not a stream');
});

test('a stream that ends with an error: the summary says how it ended', async () => {
    const c = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
    const s = c.stream('/v1/chat/completions?chunks=10&fault=provider_error&fault_after=4', { json: body() });
    const rs = s.toReadableStream({ format: 'openai' });
    await readAll(rs);
    const sum = s.summary;
    assert.equal(sum.text, expectedText(4));
    assert.equal(sum.end, 'error');
    assert.equal(sum.error.kind, 'provider');
    assert.equal(typeof sum.error.message, 'string');
    await assert.rejects(s.finalSummary(), tw.ProviderError);
});
