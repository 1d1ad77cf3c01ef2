'use strict';
/* tokenwire/browser in headless Chromium (Debian's chromium, driven by puppeteer-core): a
 * node:http server serves a page and node/browser/reader.mjs, and relays with tokenwire from
 * two upstreams: the built-in mock, and a gated OpenAI-style upstream that sends a token only
 * when the test says so. Every wait is on a signal (page state, a socket's 'close'). */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const http = require('http');
const path = require('path');
const { Readable, pipeline } = require('stream');
const { tw, startMock, expectedText, body, listen } = require('./helpers');
const { startGate, PAGE } = require('./browser_fixtures');

const CHROMIUM = '/usr/bin/chromium';
const READER = fs.readFileSync(path.join(__dirname, '..', '..', 'node', 'browser', 'reader.mjs'));
/* Mock text with 2-, 3- and 4-byte UTF-8 characters (cycled word by word). */
const TEXT = 'Hé 😀 wörld—ok ∑x';
const FORMATS = ['events', 'ndjson', 'text'];
/* Each test fails after this rather than waiting on a signal that never comes. */
const T = { timeout: 60000 };

let mock;
let gate;
let server;
let base;
let browser;
let page;
const relays = []; /* {res, stream, closed: Promise<boolean finished>} per relayed request */
const replays = new Map(); /* name -> {type, bytes} served by /replay */
let ack = null; /* the lockstep writer's wakeup: the page read what was written */

/* App vocabularies (tw_encoder_new_template) over SSE and NDJSON framing. */
const TEMPLATES = {
    sse: {
        events: { text: { event: 'answer_streaming', data: { token: '{text}' } }, usage: null },
        finish: { event: 'done', data: { response: '{text_so_far}' } },
    },
    ndjson: {
        framing: 'ndjson',
        events: { text: { data: { type: 'chat', content: '{text}' } } },
        finish: { data: { type: 'done', response: '{text_so_far}' } },
    },
};

function relay(req, res, u) {
    const tpl = u.searchParams.get('template');
    const format = tpl ? { template: TEMPLATES[tpl] } : u.searchParams.get('format');
    const query = {};
    for (const [k, v] of u.searchParams)
        if (k !== 'format' && k !== 'up' && k !== 'template') query[k] = v;
    const viaGate = u.searchParams.get('up') === 'gate';
    const client = viaGate ? gate.client
        : new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    const s = client.stream('/chat/completions',
        { json: body(), query: viaGate ? undefined : query });
    res.writeHead(200, tw.streamHeaders(format));
    const closed = new Promise((r) => res.on('close', () => r(res.writableFinished)));
    relays.push({ res, stream: s, closed });
    /* pipeline, not pipe: a browser leaving destroys the source, which cancels the stream even
     * while the upstream is silent. */
    pipeline(Readable.fromWeb(s.toReadableStream({ format, heartbeatMs: 0, eventIds: true })), res,
        () => {});
}

/* Serves a captured body whole (one write) or one byte per page read (lockstep). */
async function replay(res, u) {
    const { type, bytes } = replays.get(u.searchParams.get('name'));
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
    if (u.searchParams.get('mode') === 'whole') {
        res.end(bytes);
        return;
    }
    for (let i = 0; i < bytes.length; i++) {
        const read = new Promise((r) => {
            ack = r;
        });
        res.write(bytes.subarray(i, i + 1));
        await read;
    }
    res.end();
}

test.before(async () => {
    mock = startMock();
    gate = await startGate();
    server = http.createServer((req, res) => {
        req.resume();
        const u = new URL(req.url, 'http://x');
        if (u.pathname === '/') {
            res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
            res.end(PAGE);
        } else if (u.pathname === '/reader.mjs') {
            res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
            res.end(READER);
        } else if (u.pathname === '/relay') {
            relay(req, res, u);
        } else if (u.pathname === '/replay') {
            replay(res, u);
        } else if (u.pathname === '/fail') {
            res.writeHead(502, { 'content-type': 'text/plain' });
            res.end('upstream unavailable');
        } else {
            res.writeHead(404);
            res.end();
        }
    });
    base = `http://127.0.0.1:${await listen(server)}`;
    const puppeteer = require('puppeteer-core');
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is installed (scripts/ensure-deps.sh node)`);
    /* The ASan run preloads the sanitizer runtimes into node; Chromium must not get them. */
    const env = { ...process.env };
    delete env.LD_PRELOAD;
    browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        env,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    page = await browser.newPage();
    page.on('pageerror', (e) => process.stderr.write(`page error: ${e.message}\n`));
    await page.exposeFunction('twAck', () => {
        const a = ack;
        ack = null;
        if (a) a();
    });
    await page.goto(base + '/');
    await page.waitForFunction(() => window.T !== undefined);
});

test.after(async () => {
    if (browser) await browser.close();
    if (server) {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
    }
    if (gate) await gate.close();
    if (mock) mock.stop();
});

/* Starts T.read in the page (not awaited) and returns a getter of its state. */
async function startRead(url, opts = {}) {
    await page.evaluate((u, o) => {
        window.T.read(u, o);
    }, url, opts);
    return () => page.evaluate(() => window.T.state);
}

async function finished() {
    await page.waitForFunction(() => window.T.state.finished);
    return page.evaluate(() => window.T.state);
}

test('tokens appear one by one in the page, in every format (a gated upstream)', T, async () => {
    const tokens = ['Hé', ' 😀', ' wörld', '—ok', ' ∑x'];
    for (const format of FORMATS) {
        const upstream = gate.next();
        const state = await startRead(`/relay?format=${format}&up=gate`);
        const up = await upstream;
        let sofar = '';
        for (const t of tokens) {
            up.token(t);
            sofar += t;
            /* The next token is not sent yet: this text can only come from this one. */
            await page.waitForFunction((s) => document.getElementById('out').textContent === s,
                {}, sofar);
            const st = await state();
            assert.equal(st.text, sofar);
            assert.equal(st.finished, false);
        }
        up.finish();
        const st = await finished();
        assert.equal(st.error, null, JSON.stringify(st.error));
        assert.equal(st.text, tokens.join(''));
        if (format === 'events') {
            assert.deepEqual(st.types.filter((t) => t !== 'agent_chunk'),
                ['agent_start', 'agent_complete', 'complete']);
        } else if (format === 'ndjson') {
            assert.equal(st.types[st.types.length - 1], 'end');
            assert.ok(st.types.filter((t) => t === 'text').length === tokens.length);
        }
        if (format !== 'text') {
            /* Event ids from the relay (eventIds: true): "<stream id>:<seq>", one per event. */
            assert.match(st.ids[st.ids.length - 1], new RegExp(`:${st.ids.length - 1}$`));
        }
    }
});

test('a relay from the mock: exact text, several events per read', T, async () => {
    for (const format of FORMATS) {
        const url = `/relay?format=${format}&chunks=40&text=${encodeURIComponent(TEXT)}`;
        await startRead(url, { wrap: true, format });
        const st = await finished();
        assert.equal(st.error, null, JSON.stringify(st.error));
        assert.equal(st.text, expectedText(40, TEXT));
        if (format !== 'text')
            assert.ok(st.reads.length < st.types.length,
                `${st.reads.length} reads, ${st.types.length} events`);
    }
});

/* Captures what a relay writes for format (ids and all), with a heartbeat comment added to
 * the SSE body after its first event. */
async function capture(format) {
    const text = encodeURIComponent(TEXT);
    const r = await fetch(`${base}/relay?format=${format}&chunks=6&text=${text}`);
    let bytes = Buffer.from(await r.arrayBuffer());
    if (format === 'events') {
        const cut = bytes.indexOf('\n\n') + 2;
        const hb = Buffer.from(': keepalive\n\n');
        bytes = Buffer.concat([bytes.subarray(0, cut), hb, bytes.subarray(cut)]);
    }
    return { type: r.headers.get('content-type'), bytes };
}

test('split reads: one byte per read (UTF-8 characters cut), one read for all', T, async () => {
    for (const format of FORMATS) {
        replays.set(format, await capture(format));
        const n = replays.get(format).bytes.length;
        await startRead(`/replay?name=${format}&mode=byte`, { wrap: true, ack: true, format });
        const bytewise = await finished();
        assert.equal(bytewise.error, null, JSON.stringify(bytewise.error));
        assert.equal(bytewise.text, expectedText(6, TEXT));
        /* The writer waits for each read: the page got exactly one byte per read. */
        assert.equal(bytewise.reads.length, n);
        assert.ok(bytewise.reads.every((k) => k === 1));

        await startRead(`/replay?name=${format}&mode=whole`, { wrap: true, format });
        const whole = await finished();
        assert.equal(whole.error, null, JSON.stringify(whole.error));
        assert.equal(whole.text, bytewise.text);
        if (format !== 'text') {
            assert.deepEqual(whole.types, bytewise.types);
            assert.deepEqual(whole.ids, bytewise.ids);
        }
        if (format !== 'text') assert.ok(whole.reads.length < whole.types.length);
    }
});

test('AbortSignal: reading stops; the relay and its upstream see the disconnect', T, async () => {
    for (const format of FORMATS) {
        const upstream = gate.next();
        const state = await startRead(`/relay?format=${format}&up=gate`);
        const up = await upstream;
        const rel = relays[relays.length - 1];
        up.token('first');
        await page.waitForFunction(() => document.getElementById('out').textContent === 'first');
        await page.evaluate(() => window.T.ac.abort());
        const st = await finished();
        assert.equal(st.error && st.error.name, 'AbortError');
        assert.equal(st.text, 'first');
        assert.equal(await rel.closed, false); /* the relay's response closed before its end */
        await up.closed; /* tokenwire dropped the upstream request */
        assert.equal(rel.stream.done, true);
        assert.equal((await state()).text, 'first');
    }
});

test('app-defined template formats: named SSE events and NDJSON lines, as the app wrote them', T,
    async () => {
        for (const tpl of ['sse', 'ndjson']) {
            await startRead(`/relay?template=${tpl}&chunks=5`, { keepData: true });
            const st = await finished();
            assert.equal(st.error, null, JSON.stringify(st.error));
            const last = st.data[st.data.length - 1];
            const tokens = st.data.slice(0, -1);
            if (tpl === 'sse') {
                assert.deepEqual(st.types, [...tokens.map(() => 'answer_streaming'), 'done']);
                assert.equal(tokens.map((d) => d.token).join(''), expectedText(5));
            } else {
                assert.deepEqual(st.types, [...tokens.map(() => 'chat'), 'done']);
                assert.equal(tokens.map((d) => d.content).join(''), expectedText(5));
            }
            assert.equal(last.response, expectedText(5));
        }
    });

test('an upstream error arrives as a RelayError; a failed relay as kind "http"', T, async () => {
    for (const format of ['events', 'ndjson']) {
        await startRead(`/relay?format=${format}&chunks=10&fault=provider_error&fault_after=3`);
        const st = await finished();
        assert.equal(st.text, expectedText(3));
        assert.equal(st.error.isRelayError, true);
        assert.equal(st.error.kind, 'provider');
        assert.equal(st.error.source, format === 'events' ? 'default' : null);
    }
    await startRead('/fail');
    const st = await finished();
    assert.deepEqual([st.error.isRelayError, st.error.kind, st.error.status], [true, 'http', 502]);
});

test('TokenwireReader in the page: text, message, lastEventId, errors, close()', T, async () => {
    const log = await page.evaluate(async (url) => window.T.reader(url, {}),
        '/relay?format=events&chunks=4');
    assert.deepEqual(log.states, [1, 2]);
    assert.equal(log.text, expectedText(4));
    assert.equal(log.end, 1);
    assert.equal(log.errors.length, 0);
    assert.match(log.lastEventId, /:\d+$/);
    assert.ok(log.messages > 4);

    const failed = await page.evaluate(async (url) => window.T.reader(url, {}),
        '/relay?format=ndjson&chunks=10&fault=provider_error&fault_after=2');
    assert.equal(failed.text, expectedText(2));
    assert.deepEqual(failed.errors, [['provider', 1]]); /* reading went on to the end */
    assert.equal(failed.end, 1);

    const upstream = gate.next();
    await page.evaluate((url) => {
        window.T.reader(url, { closeAfterFirst: true });
    }, '/relay?format=text&up=gate');
    const up = await upstream;
    const rel = relays[relays.length - 1];
    up.token('only');
    await page.waitForFunction(() => window.T.log && window.T.log.done);
    const closed = await page.evaluate(() => window.T.log);
    assert.deepEqual([closed.text, closed.end, closed.errors.length, closed.states],
        ['only', 0, 0, [1, 2]]);
    assert.equal(await rel.closed, false);
    await up.closed;
});
