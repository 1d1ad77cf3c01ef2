'use strict';
/* Request preparation is the core's (tw_request_opts: api_key + auth, anthropic-version, query,
 * caller headers replacing defaults case-insensitively), and so are the timeout defaults. A raw
 * node:net server records what reaches the wire. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { tw, rawServer, sseAnswer } = require('./helpers');

let srv;
test.before(async () => {
    srv = await rawServer((sock) => sock.end(sseAnswer('ok')));
});
test.after(() => srv.close());

/* Sends one request; returns its request line and header lines (as sent, in order). The
 * answer is OpenAI's whatever the dialect: only the request matters here. */
async function sent(clientOpts, path, streamOpts = {}) {
    const before = srv.rec.bytes.length;
    const requests = srv.rec.requests;
    const client = new tw.Client({ baseURL: srv.url, maxRetries: 0, ...clientOpts });
    await client.stream(path, { json: { model: 'm' }, ...streamOpts }).finalSummary().catch((e) => e);
    assert.equal(srv.rec.requests, requests + 1);
    const wire = Buffer.concat(srv.rec.bytes.slice(before)).toString('latin1');
    const head = wire.slice(0, wire.indexOf('\r\n\r\n')).split('\r\n');
    return { line: head[0], headers: head.slice(1) };
}

function named(headers, name) {
    return headers.filter((h) => h.slice(0, h.indexOf(':')).toLowerCase() === name.toLowerCase());
}

test('the API key goes where the dialect says', async () => {
    const cases = [
        ['openai', 'Authorization: Bearer sk-1'],
        ['openai-responses', 'Authorization: Bearer sk-1'],
        ['anthropic', 'x-api-key: sk-1'],
        ['gemini', 'x-goog-api-key: sk-1'],
        ['ollama', 'Authorization: Bearer sk-1'],
    ];
    for (const [dialect, want] of cases) {
        const { headers } = await sent({ apiKey: 'sk-1', dialect }, '/x');
        const name = want.slice(0, want.indexOf(':'));
        assert.deepEqual(named(headers, name), [want], dialect);
        for (const other of ['authorization', 'x-api-key', 'x-goog-api-key', 'api-key'])
            if (other !== name.toLowerCase()) assert.deepEqual(named(headers, other), [], `${dialect}: no ${other}`);
    }
});

test("auth: 'azure' (= 'api-key') and the other ways to send the key", async () => {
    const cases = [
        ['azure', 'api-key: sk-2'],
        ['api-key', 'api-key: sk-2'],
        ['bearer', 'Authorization: Bearer sk-2'],
        ['x-api-key', 'x-api-key: sk-2'],
        ['x-goog-api-key', 'x-goog-api-key: sk-2'],
    ];
    for (const [auth, want] of cases) {
        const { headers } = await sent({ apiKey: 'sk-2', auth }, '/x');
        const name = want.slice(0, want.indexOf(':'));
        assert.deepEqual(named(headers, name), [want], auth);
        if (name !== 'Authorization') assert.deepEqual(named(headers, 'authorization'), [], `${auth}: no Bearer`);
    }
    /* Per stream too. */
    const { headers } = await sent({ apiKey: 'sk-3' }, '/x', { auth: 'azure' });
    assert.deepEqual(named(headers, 'api-key'), ['api-key: sk-3']);
    /* The core's canonical names (tw_auth_name); 'azure' is its alias of 'api-key'. */
    assert.deepEqual(tw.AUTH, ['dialect', 'bearer', 'api-key', 'x-api-key', 'x-goog-api-key']);
    for (const bad of ['basic', 'Azure', 'azure\0', 5])
        assert.throws(() => new tw.Client({ baseURL: srv.url, auth: bad }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }, String(bad));
});

test("a caller's header replaces the default of the same name, whatever its case", async () => {
    let r = await sent({ apiKey: 'sk-1' }, '/x', { headers: { authorization: 'Bearer mine' } });
    assert.deepEqual(named(r.headers, 'authorization'), ['authorization: Bearer mine'], 'one Authorization line');

    r = await sent({ apiKey: 'sk-1', dialect: 'anthropic', headers: { 'X-API-KEY': 'client-level' } }, '/x');
    assert.deepEqual(named(r.headers, 'x-api-key'), ['X-API-KEY: client-level']);

    r = await sent({ dialect: 'anthropic' }, '/x');
    assert.deepEqual(named(r.headers, 'anthropic-version'), ['anthropic-version: 2023-06-01'], 'present without an API key');
    r = await sent({ dialect: 'anthropic' }, '/x', { headers: { 'Anthropic-Version': '2024-01-01' } });
    assert.deepEqual(named(r.headers, 'anthropic-version'), ['Anthropic-Version: 2024-01-01']);
    r = await sent({}, '/x');
    assert.deepEqual(named(r.headers, 'anthropic-version'), [], 'only for anthropic');

    r = await sent({}, '/x', { headers: { 'content-type': 'application/json; charset=utf-8' } });
    assert.deepEqual(named(r.headers, 'content-type'), ['content-type: application/json; charset=utf-8']);
    r = await sent({}, '/x');
    assert.deepEqual(named(r.headers, 'content-type'), ['Content-Type: application/json']);
});

test('query parameters are appended and percent-encoded by the core', async () => {
    let r = await sent({}, '/v1/x', { query: { q: 'a b', 'k&=': 'é/?', n: 3 } });
    assert.equal(r.line, 'POST /v1/x?q=a%20b&k%26%3D=%C3%A9%2F%3F&n=3 HTTP/1.1');
    r = await sent({}, '/v1/x?alt=sse', { query: new URLSearchParams([['key', 'v'], ['key', 'w']]) });
    assert.equal(r.line, 'POST /v1/x?alt=sse&key=v&key=w HTTP/1.1');
    r = await sent({}, '/v1/x', { query: [['a', '1'], ['b', '']] });
    assert.equal(r.line, 'POST /v1/x?a=1&b= HTTP/1.1');
    r = await sent({}, '/v1/x', { query: new Map([['m', 'x y']]) });
    assert.equal(r.line, 'POST /v1/x?m=x%20y HTTP/1.1');
    const client = new tw.Client({ baseURL: srv.url, maxRetries: 0 });
    assert.throws(() => client.stream('/x', { query: 'a=1' }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
});

test('a NUL inside a query name or value is refused by the core, which names the parameter', async () => {
    const client = new tw.Client({ baseURL: srv.url, maxRetries: 0 });
    const requests = srv.rec.requests;
    for (const [query, what] of [[{ a: 'x\0y' }, 'value #1'], [{ a: '1', b: 'ok', c: 'z\0' }, 'value #3'], [[['k\0', 'v']], 'name #1']]) {
        assert.throws(() => client.stream('/x', { json: {}, query }),
            (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_VALUE' && e.message.includes(`query ${what}`)
                || assert.fail(`${JSON.stringify(query)}: ${e.message}`));
    }
    assert.equal(srv.rec.requests, requests, 'nothing sent');
    /* The length goes with each string: a value after the NUL'd one is not shortened either. */
    const r = await sent({}, '/x', { query: { a: 'é', b: 'x y' } });
    assert.equal(r.line, 'POST /x?a=%C3%A9&b=x%20y HTTP/1.1');
});

test('exactly one Accept line: the core\'s per dialect, or the caller\'s instead', async () => {
    const cases = [['openai', 'text/event-stream'], ['anthropic', 'text/event-stream'], ['gemini', 'text/event-stream'],
        ['openai-responses', 'text/event-stream'], ['sse', 'text/event-stream'],
        ['ollama', 'application/x-ndjson'], ['ndjson', 'application/x-ndjson']];
    for (const [dialect, want] of cases) {
        const { headers } = await sent({ dialect }, '/x');
        assert.deepEqual(named(headers, 'accept'), [`Accept: ${want}`], dialect);
    }
    let r = await sent({ dialect: 'ollama' }, '/x', { headers: { accept: 'text/plain' } });
    assert.deepEqual(named(r.headers, 'accept'), ['accept: text/plain']);
    r = await sent({ headers: { 'ACCEPT': 'application/json' } }, '/x');
    assert.deepEqual(named(r.headers, 'accept'), ['ACCEPT: application/json'], 'client-level header');
});

test('the timeout defaults are the core\'s (tw_request_opts_init), in milliseconds', () => {
    assert.deepEqual(tw.DEFAULT_TIMEOUTS, { connect: 10000, firstByte: 600000, idle: 600000, event: 0, total: 0, paused: 300000 });
    assert.ok(Object.isFrozen(tw.DEFAULT_TIMEOUTS));
});
