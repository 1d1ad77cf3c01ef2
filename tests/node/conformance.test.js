'use strict';
/* The shared conformance suite (tests/conformance/README.md) through Node: every case's input
 * through tw.Decoder(dialect), fed whole and one byte at a time, must give exactly the case's
 * events (as the core's JSON, tw.eventToJSON) and, from a summary the core builds from the
 * same events (decoder.summary()), exactly its summary (keys in camelCase). Plus the live path:
 * a bad event from the mock through Client.stream. */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { tw, startMock, expectedText, body } = require('./helpers');

const DIR = path.join(__dirname, '..', 'conformance', 'cases');
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

/* The documented mapping from the core's JSON keys to the JS ones: snake_case -> camelCase,
 * written here independently of the binding. */
const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
function camelKeys(v) {
    if (Array.isArray(v)) return v.map(camelKeys);
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [camel(k), camelKeys(x)]));
}

function decode(c, oneByte) {
    const d = new tw.Decoder(c.dialect, c.max_event_size ? { maxEventSize: c.max_event_size } : {});
    const input = Buffer.from(c.input, 'utf8');
    const events = [];
    if (oneByte) for (let i = 0; i < input.length; i++) events.push(...d.feed(input.subarray(i, i + 1)));
    else events.push(...d.feed(input));
    events.push(...d.finish());
    return { d, events };
}

function checkEvents(events, want, label) {
    const json = events.map((ev) => JSON.parse(tw.eventToJSON(ev)));
    assert.deepEqual(json, want, label);
    /* The JS objects carry the same values under the camelCase keys. */
    events.forEach((ev, i) => {
        for (const [k, v] of Object.entries(want[i])) assert.deepEqual(ev[camel(k)], v, `${label}: event ${i} ${k}`);
    });
}

test('the conformance cases exist', () => {
    assert.ok(FILES.length >= 17, FILES.join(', '));
});

for (const file of FILES) {
    const c = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8'));
    test(`conformance: ${file.replace(/\.json$/, '')}`, () => {
        for (const oneByte of [false, true]) {
            const label = `${file} (${oneByte ? 'one byte at a time' : 'whole'})`;
            const { d, events } = decode(c, oneByte);
            checkEvents(events, c.events, label);
            assert.deepEqual(d.summary(), camelKeys(c.summary), label);
        }
    });
}

test('decoder.summary() follows the bytes decoded so far', () => {
    const c = JSON.parse(fs.readFileSync(path.join(DIR, 'openai_bad_json_line_is_recoverable.json'), 'utf8'));
    const d = new tw.Decoder('openai');
    assert.equal(d.summary().end, null);
    assert.equal(d.summary().text, '');
    d.feed(c.input.slice(0, c.input.indexOf('data: {not json')));
    assert.equal(d.summary().text, 'Hel');
    d.feed(c.input.slice(c.input.indexOf('data: {not json')));
    d.finish();
    assert.equal(d.summary().text, 'Hello');
    assert.equal(d.summary().recoverableErrors, 1);
    assert.equal(new tw.Decoder('openai', { accumulate: false }).summary().text, null);
});

test('eventToJSON: the core\'s JSON of a JS event; unknown types and bad fields are TypeErrors', () => {
    assert.equal(tw.eventToJSON({ type: 'text', index: 1, text: 'a"b' }), '{"type":"text","index":1,"text":"a\\"b"}');
    assert.equal(tw.eventToJSON({ type: 'usage', index: 0, inputTokens: 3, outputTokens: null, totalTokens: null }),
        '{"type":"usage","input_tokens":3}');
    assert.equal(tw.eventToJSON({ type: 'error', index: 0, kind: 'provider', status: 529, message: 'Overloaded',
        name: 'overloaded_error', raw: null, recoverable: false, source: 'a' }),
    '{"type":"error","source":"a","kind":"provider","status":529,"message":"Overloaded","name":"overloaded_error"}');
    assert.throws(() => tw.eventToJSON({ type: 'nope' }), TypeError);
    assert.throws(() => tw.eventToJSON({ type: 'text', text: 5 }), TypeError);
    assert.throws(() => tw.eventToJSON(null), TypeError);
});

test('live: a garbage event from the mock is a recoverable error event, the text is whole', async () => {
    const mock = startMock();
    try {
        for (const dialect of ['openai', 'anthropic']) {
            const c = new tw.Client({ baseURL: mock.url, dialect, maxRetries: 0 });
            const p = dialect === 'openai' ? '/v1/chat/completions' : '/v1/messages';
            const s = c.stream(`${p}?chunks=8&fault=garbage&fault_after=3`, { json: body() });
            const events = [];
            for await (const ev of s) events.push(JSON.parse(tw.eventToJSON(ev)));
            const errors = events.filter((e) => e.type === 'error');
            assert.equal(errors.length, 1, dialect);
            assert.equal(errors[0].kind, 'protocol');
            assert.equal(errors[0].recoverable, true);
            assert.equal(events.filter((e) => e.type === 'text').map((e) => e.text).join(''), expectedText(8));
            assert.equal(s.summary.text, expectedText(8));
            assert.equal(s.summary.recoverableErrors, 1);
            assert.equal(s.summary.end, 'end');
            assert.equal(s.summary.error, null);
        }
    } finally {
        mock.stop();
    }
});
