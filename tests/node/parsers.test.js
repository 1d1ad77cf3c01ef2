'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { tw } = require('./helpers');

const STREAM =
    '\uFEFFretry: 3000\r\n' +
    ': a comment\r\n' +
    'event: delta\r\ndata: {"a":1}\r\nid: 42\r\n\r\n' +
    'data: line one\ndata: line two\n\n' +
    'data:no space\rdata: é😀 “quotes”\r\r' +
    'data: unterminated';

const EXPECTED = [
    { event: 'delta', data: '{"a":1}', id: '42', retry: 3000 },
    { event: 'message', data: 'line one\nline two', id: '42', retry: null },
    { event: 'message', data: 'no space\né😀 “quotes”', id: '42', retry: null },
];

test('SSEParser: whole input, string and Buffer', () => {
    for (const input of [STREAM, Buffer.from(STREAM), new Uint8Array(Buffer.from(STREAM))]) {
        const p = new tw.SSEParser();
        assert.deepEqual(p.feed(input), EXPECTED);
        assert.equal(p.lastEventId, '42');
        assert.deepEqual(p.finish(), []);
    }
});

test('SSEParser: byte by byte and at every split point gives the same events', () => {
    const bytes = Buffer.from(STREAM);
    const p = new tw.SSEParser();
    const got = [];
    for (let i = 0; i < bytes.length; i++) got.push(...p.feed(bytes.subarray(i, i + 1)));
    assert.deepEqual(got, EXPECTED);
    for (let cut = 1; cut < bytes.length; cut++) {
        const q = new tw.SSEParser();
        const evs = [...q.feed(bytes.subarray(0, cut)), ...q.feed(bytes.subarray(cut))];
        assert.deepEqual(evs, EXPECTED, `split at ${cut}`);
    }
});

test('SSEParser: invalid UTF-8 becomes U+FFFD, nothing is lost around it', () => {
    const p = new tw.SSEParser();
    const evs = p.feed(Buffer.from([0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0x61, 0xff, 0x62, 0x0a, 0x0a]));
    assert.equal(evs.length, 1);
    assert.equal(evs[0].data, 'a\uFFFDb');
});

test('SSEParser: oversized event is a ProtocolError and the parser goes on', () => {
    const p = new tw.SSEParser({ maxEventSize: 64 });
    let err;
    try {
        p.feed('data: ok\n\ndata: ' + 'x'.repeat(200) + '\n\n');
    } catch (e) {
        err = e;
    }
    assert.ok(err instanceof tw.ProtocolError, 'ProtocolError thrown');
    assert.ok(err instanceof tw.TokenwireError);
    assert.deepEqual(err.events.map((e) => e.data), ['ok']);
    assert.deepEqual(p.feed('data: after\n\n').map((e) => e.data), ['after']);
});

test('SSEParser({ lastEventId }): the id a reconnect sent, until the stream sets another', () => {
    const p = new tw.SSEParser({ lastEventId: '7' });
    assert.equal(p.lastEventId, '7');
    assert.deepEqual(p.feed('data: a\n\n'), [{ event: 'message', data: 'a', id: '7', retry: null }]);
    assert.deepEqual(p.feed('id: 8\ndata: b\n\n'), [{ event: 'message', data: 'b', id: '8', retry: null }]);
    assert.equal(p.lastEventId, '8');
    assert.equal(new tw.SSEParser().lastEventId, '');
    assert.equal(new tw.SSEParser({ lastEventId: 'é😀' }).lastEventId, 'é😀');
    assert.throws(() => new tw.SSEParser({ lastEventId: 7 }), TypeError);
});

test('SSEParser.lastEventId: only dispatched ids count, and it survives finish()', () => {
    const p = new tw.SSEParser();
    p.feed('id: 1\ndata: a\n\nid: 2\ndata: b');
    assert.equal(p.lastEventId, '1', 'the id of a block still being read does not count');
    p.feed('\n\nid: 3\n\nid: 4\n');
    assert.equal(p.lastEventId, '3', 'an id-only block counts once its blank line came');
    assert.deepEqual(p.finish(), []);
    assert.equal(p.lastEventId, '3', 'kept after finish(); the unterminated block is dropped');
    /* The same parser reads the next connection from there. */
    assert.deepEqual(p.feed('data: c\n\n'), [{ event: 'message', data: 'c', id: '3', retry: null }]);
    p.reset();
    assert.equal(p.lastEventId, '', 'reset() forgets it');
});

test('SSEParser: argument validation', () => {
    const p = new tw.SSEParser();
    assert.throws(() => p.feed(42), TypeError);
    assert.throws(() => p.feed(null), TypeError);
    assert.throws(() => new tw.SSEParser({ maxEventSize: -1 }), TypeError);
});

test('Decoder: openai chunks to normalized events', () => {
    const d = new tw.Decoder('openai');
    const chunk = (delta, extra = {}) =>
        'data: ' + JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', model: 'gpt-x',
            choices: [{ index: 0, delta, finish_reason: null }], ...extra }) + '\n\n';
    const input =
        chunk({ role: 'assistant', content: '' }) + chunk({ content: 'Hel' }) + chunk({ content: 'lo “x”' }) +
        chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a"' } }] }) +
        chunk({ tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }) +
        'data: ' + JSON.stringify({ id: 'chatcmpl-1', model: 'gpt-x', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] }) + '\n\n' +
        'data: ' + JSON.stringify({ id: 'chatcmpl-1', model: 'gpt-x', choices: [], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } }) + '\n\n' +
        'data: [DONE]\n\n';
    const bytes = Buffer.from(input);
    const evs = [];
    for (let i = 0; i < bytes.length; i += 7) evs.push(...d.feed(bytes.subarray(i, i + 7)));
    evs.push(...d.finish());
    const types = evs.map((e) => e.type);
    assert.equal(types[0], 'start');
    assert.equal(evs[0].model, 'gpt-x');
    assert.equal(evs.filter((e) => e.type === 'text').map((e) => e.text).join(''), 'Hello “x”');
    const tools = evs.filter((e) => e.type === 'tool_call');
    assert.equal(tools[0].id, 'call_1');
    assert.equal(tools[0].name, 'f');
    assert.equal(tools.map((t) => t.arguments || '').join(''), '{"a":1}');
    const fin = evs.find((e) => e.type === 'finish');
    assert.equal(fin.reason, 'tool_calls');
    const usage = evs.find((e) => e.type === 'usage');
    assert.equal(usage.inputTokens, 5);
    assert.equal(usage.outputTokens, 7);
    assert.equal(usage.totalTokens, 12);
    const sum = d.summary();
    assert.equal(sum.text, 'Hello “x”');
    assert.deepEqual(sum.toolCalls, [{ index: 0, id: 'call_1', name: 'f', arguments: '{"a":1}' }]);
    assert.deepEqual(sum.usage, { inputTokens: 5, outputTokens: 7, totalTokens: 12 });
    assert.equal(sum.finishReason, 'tool_calls');
    assert.equal(types[types.length - 1], 'end');
    assert.equal(d.done, true);
});

test('Decoder: a bad JSON payload is a protocol error event and decoding goes on', () => {
    const d = new tw.Decoder('openai');
    const evs = d.feed('data: {not json\n\ndata: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n');
    const err = evs.find((e) => e.type === 'error');
    assert.ok(err, 'error event');
    assert.equal(err.kind, 'protocol');
    assert.equal(err.raw, '{not json');
    assert.equal(evs.filter((e) => e.type === 'text').map((e) => e.text).join(''), 'ok');
});

test('Decoder: anthropic, raw sse and ndjson dialects', () => {
    const a = new tw.Decoder('anthropic');
    const ev = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
    const evs = a.feed(
        ev('message_start', { type: 'message_start', message: { id: 'msg_1', model: 'claude-x', usage: { input_tokens: 3, output_tokens: 1 } } }) +
        ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
        ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } }) +
        ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 9 } }) +
        ev('message_stop', { type: 'message_stop' }));
    assert.equal(evs[0].type, 'start');
    assert.equal(evs[0].id, 'msg_1');
    assert.equal(evs.filter((e) => e.type === 'text').map((e) => e.text).join(''), 'Hi');
    assert.equal(evs.find((e) => e.type === 'finish').reason, 'end_turn');
    assert.equal(evs[evs.length - 1].type, 'end');

    const s = new tw.Decoder('sse');
    const raw = s.feed('event: x\ndata: y\nid: 1\n\n');
    assert.deepEqual(raw.map((e) => [e.type, e.event, e.data, e.id]), [['raw', 'x', 'y', '1']]);

    const n = new tw.Decoder('ndjson');
    const lines = [...n.feed('{"a":1}\n{"b"'), ...n.feed(':2}\n'), ...n.finish()];
    assert.deepEqual(lines.filter((e) => e.type === 'raw').map((e) => e.data), ['{"a":1}', '{"b":2}']);

    assert.throws(() => new tw.Decoder('nope'), TypeError);
});

test('CommonJS and ESM entry points expose the same module', async () => {
    const esm = await import('tokenwire');
    const cjs = require('tokenwire');
    assert.equal(cjs, tw);
    assert.equal(esm.default, tw);
    for (const name of ['SSEParser', 'Decoder', 'Client', 'Stream', 'merge', 'streamHeaders', 'HTTPError',
        'TimeoutError', 'ProtocolError', 'ProviderError', 'TransportError', 'TruncatedError', 'AbortError', 'TokenwireError',
        'eventToJSON', 'errorClass', 'TYPES', 'KINDS', 'DIALECTS', 'FORMATS', 'AUTH', 'DEFAULT_TIMEOUTS']) {
        assert.equal(esm[name], tw[name], name);
        assert.ok(tw[name], name);
    }
    assert.equal(esm.version, '0.1.0');
});

test('streamHeaders: the core list per format, Next.js anti-buffering, caller overrides', () => {
    const sse = tw.streamHeaders('ai-sdk', { 'X-Request-Id': 'r1', 'Cache-Control': 'no-store' });
    assert.equal(sse['content-type'], 'text/event-stream');
    assert.equal(sse['x-vercel-ai-ui-message-stream'], 'v1');
    assert.equal(sse['x-accel-buffering'], 'no');
    assert.equal(sse['content-encoding'], 'none');
    assert.equal(sse['cache-control'], 'no-store'); // a caller's header wins, whatever its case
    assert.equal(sse['x-request-id'], 'r1');
    const text = tw.streamHeaders('text');
    assert.equal(text['content-type'], 'text/plain; charset=utf-8');
    assert.equal(text['cache-control'], 'no-cache, no-transform');
    assert.equal(text['x-vercel-ai-ui-message-stream'], undefined);
    assert.throws(() => tw.streamHeaders('xml'), TypeError);
});
