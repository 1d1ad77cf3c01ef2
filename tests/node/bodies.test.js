'use strict';
/*
 * Issue 10 item 4: a 2xx answer that is not an event stream never ends "cleanly" with no
 * events. Real node:http servers answer with an HTML page, random bytes labelled
 * text/event-stream, and a gzip-encoded event stream the client never asked to be
 * compressed (libcurl decodes it).
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const { tw, listen, body } = require('./helpers');

function chunk(content, finish) {
    return `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'm',
        choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish || null }] })}\n\n`;
}
const WORDS = Array.from({ length: 200 }, (_, i) => `word${i} `);
const SSE = WORDS.map((w) => chunk(w)).join('') + chunk(null, 'stop') + 'data: [DONE]\n\n';

let server;
let url;
const seen = [];
test.before(async () => {
    server = http.createServer((req, res) => {
        seen.push({ url: req.url, acceptEncoding: req.headers['accept-encoding'] || null });
        req.resume();
        req.on('end', () => {
            if (req.url === '/html') {
                res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
                res.end('<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>\n');
            } else if (req.url === '/random') {
                res.writeHead(200, { 'content-type': 'text/event-stream' });
                /* Seeded bytes with no LF or CR: no line, so no event, ever completes. */
                const bytes = crypto.createHash('sha512').update('tokenwire').digest();
                const out = Buffer.alloc(4096);
                for (let i = 0; i < out.length; i++) out[i] = (bytes[i % 64] ^ (i * 31)) & 0xff;
                for (let i = 0; i < out.length; i++) if (out[i] === 10 || out[i] === 13) out[i] = 0x41;
                res.end(out);
            } else if (req.url === '/gzip') {
                /* Compressed whatever the request said (some proxies do this). */
                res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' });
                res.end(zlib.gzipSync(SSE));
            } else if (req.url === '/deflate' || req.url === '/br') {
                const enc = req.url.slice(1);
                res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': enc });
                res.end(enc === 'br' ? zlib.brotliCompressSync(SSE) : zlib.deflateSync(SSE));
            } else if (req.url === '/gzip-chunked') {
                res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' });
                const z = zlib.createGzip();
                z.pipe(res);
                let i = 0;
                const more = () => {
                    while (i < WORDS.length) {
                        z.write(chunk(WORDS[i++]));
                        if (i % 50 === 0) {
                            z.flush(more); /* flushed pieces go out as separate chunks */
                            return;
                        }
                    }
                    z.end(chunk(null, 'stop') + 'data: [DONE]\n\n');
                };
                more();
            } else {
                res.writeHead(404).end();
            }
        });
    });
    url = `http://127.0.0.1:${await listen(server)}`;
});
test.after(() => new Promise((r) => server.close(r)));

async function run(path) {
    const client = new tw.Client({ baseURL: url, maxRetries: 0 });
    const s = client.stream(path, { json: body() });
    const events = [];
    try {
        for await (const ev of s) events.push(ev);
        return { events, error: null, s };
    } catch (error) {
        return { events, error, s };
    }
}

test('200 text/html -> ProtocolError naming the content type', async () => {
    const { events, error } = await run('/html');
    assert.ok(error instanceof tw.ProtocolError, `got ${error}`);
    assert.equal(error.code, 'ERR_PROTOCOL');
    assert.equal(error.kind, 'protocol');
    assert.match(error.message, /text\/html/);
    assert.equal(events.filter((e) => e.type === 'text').length, 0);
});

test('200 text/html through the emitter and finalSummary() fails the same way', async () => {
    const client = new tw.Client({ baseURL: url, maxRetries: 0 });
    await assert.rejects(client.stream('/html', { json: body() }).finalSummary(),
        (e) => e instanceof tw.ProtocolError && /text\/html/.test(e.message));
    const s = client.stream('/html', { json: body() });
    const err = await new Promise((resolve) => {
        s.on('error', resolve);
        s.on('end', () => resolve(null));
    });
    assert.ok(err instanceof tw.ProtocolError, String(err));
});

test('random bytes labelled text/event-stream -> ProtocolError, not a clean empty end', async () => {
    const { events, error } = await run('/random');
    assert.ok(error instanceof tw.ProtocolError, `got ${error} after ${events.length} events`);
    assert.equal(error.code, 'ERR_PROTOCOL');
    assert.match(error.message, /no event/);
    /* The terminal error is the exception, not one of the iterator's values (as in Python);
     * nothing else came. */
    assert.deepEqual(events.map((e) => e.type), []);
});

test('gzip / deflate / br-encoded SSE the client never asked for is decoded: full text', async () => {
    for (const path of ['/gzip', '/gzip-chunked', '/deflate', '/br']) {
        const { events, error, s } = await run(path);
        assert.equal(error, null, `${path}: ${error}`);
        const text = events.filter((e) => e.type === 'text').map((e) => e.text).join('');
        assert.equal(text, WORDS.join(''), path);
        assert.equal(events.filter((e) => e.type === 'finish')[0].reason, 'stop');
        assert.ok(s.metrics().bytes > 0);
    }
    /* What the request offered: libcurl names only encodings it decodes (or none). */
    const compressed = seen.filter((x) => ['/gzip', '/gzip-chunked', '/deflate', '/br'].includes(x.url));
    assert.equal(compressed.length, 4);
    for (const r of compressed) {
        if (r.acceptEncoding === null) continue;
        for (const enc of r.acceptEncoding.split(',').map((x) => x.trim()))
            assert.ok(['gzip', 'deflate', 'br', 'zstd', 'identity'].includes(enc), r.acceptEncoding);
    }
});
