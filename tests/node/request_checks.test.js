'use strict';
/*
 * Issue 10 item 1: nothing a caller passes can add lines to the request. CR, LF or NUL in an
 * API key, a header name or value, the method, the path or a raw query is refused when the
 * stream starts (TypeError, code ERR_INVALID_ARG_VALUE, the field named, the value never
 * echoed), and the server - a raw node:net listener recording every byte - receives nothing.
 * A valid request sent afterwards proves the listener works and is the only thing it got.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const { getEventListeners } = require('node:events');
const { tw, rawServer, sseAnswer } = require('./helpers');

const INJECT = 'sk-x\r\nX-Injected: yes\r\nHost: evil.example';

let srv;
test.before(async () => {
    srv = await rawServer((sock) => sock.end(sseAnswer('ok')));
});
test.after(() => srv.close());

/* [name, () => stream(...), field the message must name] */
function cases() {
    const c = (opts) => new tw.Client({ baseURL: srv.url + '/v1', maxRetries: 0, ...opts });
    const json = { json: { model: 'm', stream: true } };
    return [
        ['openai apiKey with CR/LF (Authorization: Bearer)', () => c({ apiKey: INJECT }).stream('/chat/completions', json),
            'api_key'],
        ['anthropic apiKey with CR/LF (x-api-key)', () => c({ apiKey: INJECT, dialect: 'anthropic' }).stream('/messages', json),
            'api_key'],
        ['gemini apiKey with CR/LF (x-goog-api-key)', () => c({ apiKey: INJECT, dialect: 'gemini' }).stream('/models/g:streamGenerateContent', json),
            'api_key'],
        ['apiKey with a lone LF', () => c({ apiKey: 'sk-x\nX-Injected: yes' }).stream('/chat/completions', json),
            'api_key'],
        ['apiKey with NUL (would cut the key short)', () => c({ apiKey: 'sk-x\0X-Injected: yes' }).stream('/chat/completions', json),
            'api_key'],
        ['anthropic apiKey with NUL', () => c({ apiKey: 'sk-\0', dialect: 'anthropic' }).stream('/messages', json),
            'api_key'],
        ['user header value with CR/LF', () => c({}).stream('/chat/completions', { ...json, headers: { 'X-Trace': 'a\r\nX-Injected: yes' } }),
            'header "X-Trace"'],
        ['user header value with NUL', () => c({}).stream('/chat/completions', { ...json, headers: { 'X-Trace': 'a\0b' } }),
            'header "X-Trace"'],
        ['user header name with CR/LF', () => c({}).stream('/chat/completions', { ...json, headers: { 'X-A\r\nX-Injected': 'yes' } }),
            'header name'],
        ['user header name with a space', () => c({}).stream('/chat/completions', { ...json, headers: { 'X A': 'yes' } }),
            'header name'],
        ['client-wide header value with CR/LF', () => c({ headers: { 'X-Org': 'o\r\nX-Injected: yes' } }).stream('/chat/completions', json),
            'header "X-Org"'],
        ['Headers object value with LF', () => c({}).stream('/chat/completions', { ...json, headers: new Map([['X-M', 'a\nb']]) }),
            'header "X-M"'],
        ['method with CR/LF and a request line', () => c({}).stream('/chat/completions', { ...json, method: 'GET / HTTP/1.1\r\nX-Injected: yes\r\n\r\nPOST' }),
            'method'],
        ['method with a space', () => c({}).stream('/chat/completions', { ...json, method: 'PO ST' }), 'method'],
        ['non-ASCII method (fullwidth POST)', () => c({}).stream('/chat/completions', { ...json, method: '\uFF30\uFF2F\uFF33\uFF34' }), 'method'],
        ['non-ASCII method that upper-cases to ASCII', () => c({}).stream('/chat/completions', { ...json, method: '\uFB00' }), 'method'],
        ['empty method', () => c({}).stream('/chat/completions', { ...json, method: '' }), 'method'],
        ['method with NUL', () => c({}).stream('/chat/completions', { ...json, method: 'POST\0' }), 'method'],
        ['path with CR/LF', () => c({}).stream('/chat/completions HTTP/1.1\r\nX-Injected: yes\r\nX:', json), 'url'],
        ['path with a space', () => c({}).stream('/chat/completions x', json), 'url'],
        ['path with a NUL', () => c({}).stream('/chat/completions\0/x', json), 'url'],
        ['raw query value with CR/LF', () => c({}).stream('/chat/completions?x=a\r\nX-Injected: yes', json), 'url'],
        ['raw query value with a space', () => c({}).stream('/chat/completions?x=a b', json), 'url'],
        ['baseURL with CR/LF', () => new tw.Client({ baseURL: srv.url + '/v1\r\nX-Injected: yes', maxRetries: 0 })
            .stream('/chat/completions', json), 'url'],
        ['absolute URL with a tab', () => c({}).stream(srv.url + '/v1/chat\tx', json), 'url'],
    ];
}

test('every injection attempt is refused at stream() and nothing reaches the server', async () => {
    const started = tw.stats().streamsStarted;
    for (const [name, start, field] of cases()) {
        assert.throws(start, (e) => {
            assert.ok(e instanceof TypeError, `${name}: ${e && e.name}: ${e && e.message}`);
            assert.equal(e.code, 'ERR_INVALID_ARG_VALUE', name);
            assert.ok(e.message.includes(field), `${name}: message names ${field}: ${e.message}`);
            assert.ok(!/[\r\n\0]/.test(e.message), `${name}: the message carries no CR/LF/NUL`);
            assert.ok(!e.message.includes('sk-x') && !e.message.includes('evil.example'),
                `${name}: the message does not echo the value: ${e.message}`);
            return true;
        }, name);
    }
    assert.equal(tw.stats().streamsStarted, started, 'no stream reached the engine');
    assert.equal(srv.rec.connections, 0, 'no connection was opened');

    /* The listener works: a clean request arrives and is the only thing it ever received. */
    const client = new tw.Client({ baseURL: srv.url + '/v1', apiKey: 'sk-clean', maxRetries: 0 });
    const text = await client.stream('/chat/completions', { json: { model: 'm' } }).fullText();
    assert.equal(text, 'ok');
    assert.equal(srv.rec.connections, 1);
    assert.equal(srv.rec.requests, 1);
    const wire = srv.received();
    assert.match(wire, /^POST \/v1\/chat\/completions HTTP\/1\.1\r\n/);
    assert.match(wire, /\r\nAuthorization: Bearer sk-clean\r\n/);
    assert.ok(!/X-Injected|evil\.example/i.test(wire), wire);
});

test('query values given as options are percent-encoded, never sent raw', async () => {
    const before = srv.rec.requests;
    const client = new tw.Client({ baseURL: srv.url + '/v1', maxRetries: 0 });
    const s = client.stream('/chat/completions', { json: {}, query: { x: 'a\r\nX-Injected: yes', y: 'b c' } });
    assert.equal(await s.fullText(), 'ok');
    assert.equal(srv.rec.requests, before + 1);
    const wire = srv.received();
    assert.ok(wire.includes('POST /v1/chat/completions?x=a%0D%0AX-Injected%3A%20yes&y=b%20c HTTP/1.1\r\n'), wire);
    assert.ok(!/\r\nX-Injected/i.test(wire));
});

test('a refused stream leaves no listener on its AbortSignal', () => {
    const ac = new AbortController();
    const client = new tw.Client({ baseURL: srv.url, apiKey: INJECT, maxRetries: 0 });
    assert.throws(() => client.stream('/v1/chat/completions', { json: {}, signal: ac.signal }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
});

test('caFile with a NUL is refused (a path is read up to its first NUL)', () => {
    const before = srv.rec.connections;
    const client = new tw.Client({ baseURL: srv.url, caFile: '/etc/ssl/certs/ca-certificates.crt\0.evil', maxRetries: 0 });
    assert.throws(() => client.stream('/v1/chat/completions', { json: {} }),
        (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && /caFile/.test(e.message));
    assert.equal(srv.rec.connections, before, 'nothing connected');
});

test('argument type errors use the same convention (TypeError with a Node code)', () => {
    const client = new tw.Client({ baseURL: srv.url, maxRetries: 0 });
    assert.throws(() => client.stream('/x', { method: 42 }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => client.stream('/x', { headers: { '': 'v' } }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => client.stream('/x', { headers: { 'X-A:b': 'v' } }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => client.stream('/x', { timeout: { nope: 1 } }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => client.stream('/x', { retrySent: 'yes' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
    assert.throws(() => new tw.Client({ baseURL: srv.url, caFile: 1 }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
});
