'use strict';
/* tokenwire/browser (node/browser/reader.mjs) run in Node: the decoder fed every split of
 * sample bodies, readEvents / TokenwireReader over web streams (abort, errors, early break),
 * and its .d.ts against a strict TypeScript sample. The same module runs in Chromium in
 * browser_reader.test.js. */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { tw } = require('./helpers');

const root = path.resolve(__dirname, '..', '..');
let R;
test.before(async () => {
    R = await import('../../node/browser/reader.mjs');
});

test('the module: loaded as tokenwire/browser; no imports, no Node-only globals', async () => {
    assert.equal(await import('tokenwire/browser'), R); /* package.json "exports" */
    const src = fs.readFileSync(path.join(root, 'node', 'browser', 'reader.mjs'), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, ''); /* comments may name anything */
    for (const re of [/^\s*import\b/m, /\bimport\(/, /\brequire\(/, /\bprocess\b/, /\bBuffer\b/,
        /\bglobal\b/, /\bnode:/, /\bsetImmediate\b/, /\b__dirname\b/])
        assert.doesNotMatch(src, re);
});

const enc = (s) => new TextEncoder().encode(s);

/* SSE as the events relay writes it, plus what the parser must also take: a BOM, CRLF and CR
 * line ends, comments, data split over lines, a field without a space, retry, and a last
 * event without its blank line (dropped). */
const SSE = '\uFEFF: keepalive\r\n\r\n' +
    'id: s:0\r\nevent: agent_start\r\ndata: {"agent":"a","model":"m"}\r\n\r\n' +
    ': heartbeat\n\n' +
    'id: s:1\revent: agent_chunk\r' +
    'data: {"agent":"a","type":"text","index":0,"text":"Hé—llo 😀"}\r\r' +
    'event: agent_chunk\ndata:{"agent":"a","type":"text",\ndata: "index":0,"text":" wörld"}\n\n' +
    'retry: 10\nid: s:2\nevent: error\n' +
    'data: {"agent":"a","kind":"protocol","message":"bad line","recoverable":true}\n\n' +
    'event: agent_complete\r\ndata: {"agent":"a","status":"ok"}\r\n\r\n' +
    'data: {"untyped":1}\n\n' +
    'event: complete\ndata: {"agents":1,"errors":0}\n\n' +
    'event: agent_chunk\ndata: {"unterminated":true}\n';

const SSE_EXPECTED = [
    ['agent_start', 's:0', { agent: 'a', model: 'm' }],
    ['agent_chunk', 's:1', { agent: 'a', type: 'text', index: 0, text: 'Hé—llo 😀' }],
    ['agent_chunk', 's:1', { agent: 'a', type: 'text', index: 0, text: ' wörld' }],
    ['error', 's:2', { agent: 'a', kind: 'protocol', message: 'bad line', recoverable: true }],
    ['agent_complete', 's:2', { agent: 'a', status: 'ok' }],
    ['message', 's:2', { untyped: 1 }],
    ['complete', 's:2', { agents: 1, errors: 0 }],
];

/* NDJSON as the ndjson relay writes it (event_id keys, blank-line heartbeats), with CRLF and
 * CR line ends and a last line without its newline (still an event). */
const NDJSON = '\uFEFF{"type":"start","id":"x"}\r\n\n' +
    '{"event_id":"p:1","type":"text","index":0,"text":"Hé😀"}\r' +
    '   \n{"type":"text","index":0,"text":" end—"}\n' +
    '{"type":"error","source":"b","kind":"provider","status":529,"message":"overloaded"}';

const NDJSON_EXPECTED = [
    ['start', '', { type: 'start', id: 'x' }],
    ['text', 'p:1', { event_id: 'p:1', type: 'text', index: 0, text: 'Hé😀' }],
    ['text', 'p:1', { type: 'text', index: 0, text: ' end—' }],
    ['error', 'p:1',
        { type: 'error', source: 'b', kind: 'provider', status: 529, message: 'overloaded' }],
];

const TEXT = 'Hé—llo 😀 wörld\r\nline two\r';

function decodeParts(format, parts) {
    const d = new R.StreamDecoder(format);
    const out = [];
    for (const p of parts) out.push(...d.feed(p));
    out.push(...d.finish());
    return out;
}

/* Every way to cut bytes in two; in three with the cuts at most 8 bytes apart (two cuts in
 * one CRLF, one UTF-8 sequence, one field name); one byte at a time; and 200 seeded random
 * cuttings into pieces of 1-16 bytes. */
function* splits(bytes) {
    const n = bytes.length;
    for (let i = 0; i <= n; i++) yield [bytes.subarray(0, i), bytes.subarray(i)];
    for (let i = 1; i < n; i++)
        for (let j = i + 1; j < n && j <= i + 8; j++)
            yield [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
    yield Array.from(bytes, (b) => Uint8Array.of(b));
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let k = 0; k < 200; k++) {
        const parts = [];
        for (let i = 0; i < n;) {
            const len = 1 + Math.floor(rnd() * 16);
            parts.push(bytes.subarray(i, i + len));
            i += len;
        }
        yield parts;
    }
}

function summary(events) {
    return events.map((e) => [e.type, e.id, e.data]);
}

const texts = (events) => events.filter((e) => e.text !== undefined).map((e) => e.text);
const sizes = (parts) => `split ${parts.map((p) => p.length)}`;

test('events (SSE): every split of the body gives the same events, ids and text', () => {
    const bytes = enc(SSE);
    let n = 0;
    for (const parts of splits(bytes)) {
        const evs = decodeParts('events', parts);
        assert.deepEqual(summary(evs), SSE_EXPECTED, sizes(parts));
        n++;
    }
    assert.ok(n > bytes.length * 9, `${n} splittings`);
    const evs = decodeParts('events', [bytes]);
    assert.deepEqual(texts(evs), ['Hé—llo 😀', ' wörld']);
    const err = evs.find((e) => e.type === 'error').error;
    assert.ok(err instanceof R.RelayError);
    assert.deepEqual([err.kind, err.source, err.recoverable, err.message],
        ['protocol', 'a', true, 'bad line']);
});

test('events (SSE): the same events as the core\'s WHATWG parser (tw.SSEParser)', () => {
    const p = new tw.SSEParser();
    const native = [...p.feed(Buffer.from(SSE)), ...p.finish()];
    const ours = decodeParts('events', [enc(SSE)]);
    assert.deepEqual(ours.map((e) => [e.type, e.id, e.raw]),
        native.map((e) => [e.event, e.id, e.data]));
});

test('ndjson: every split gives the same events; the last line needs no newline', () => {
    const bytes = enc(NDJSON);
    for (const parts of splits(bytes))
        assert.deepEqual(summary(decodeParts('ndjson', parts)), NDJSON_EXPECTED, sizes(parts));
    const evs = decodeParts('ndjson', [bytes]);
    assert.deepEqual(texts(evs), ['Hé😀', ' end—']);
    const err = evs[3].error;
    assert.deepEqual([err.kind, err.status, err.source, err.recoverable],
        ['provider', 529, 'b', false]);
});

test('text: every split gives the exact text, never a broken character', () => {
    const bytes = enc(TEXT);
    for (const parts of splits(bytes)) {
        const evs = decodeParts('text', parts);
        assert.equal(evs.map((e) => e.text).join(''), TEXT);
        for (const e of evs) {
            assert.equal(e.type, 'text');
            assert.ok(!e.text.includes('\uFFFD'), sizes(parts));
        }
    }
    /* Bytes cut off inside a character at the end become U+FFFD, not silence. */
    assert.equal(texts(decodeParts('text', [enc('ok😀').subarray(0, 4)])).join(''), 'ok\uFFFD');
});

test('decoder: bad input is a typed error', () => {
    assert.throws(() => new R.StreamDecoder('openai'), TypeError);
    const d = new R.StreamDecoder('ndjson');
    const protocol = (e) => e instanceof R.RelayError && e.kind === 'protocol';
    assert.throws(() => d.feed(enc('{"type":"text"\n')),
        (e) => protocol(e) && e.body === '{"type":"text"');
    const s = new R.StreamDecoder('events');
    assert.throws(() => s.feed('data: not json\n\n'), protocol);
    s.finish();
    assert.throws(() => s.feed('x'), TypeError);
});

/* A web stream of the given chunks; then, with hold, one that never ends until cancelled. */
function chunks(parts, hold = false) {
    const rec = { cancelled: null, pulls: 0 };
    let i = 0;
    const stream = new ReadableStream({
        pull(c) {
            rec.pulls++;
            if (i < parts.length) c.enqueue(enc(parts[i++]));
            else if (!hold) c.close();
            else return new Promise(() => {});
            return undefined;
        },
        cancel(reason) {
            rec.cancelled = reason === undefined ? 'no reason' : reason;
        },
    }, { highWaterMark: 0 });
    return { stream, rec };
}

async function collect(it) {
    const out = [];
    for await (const ev of it) out.push(ev);
    return out;
}

test('readEvents: a Response; the format from its Content-Type; many events per read', async () => {
    const res = new Response(enc(SSE), { headers: { 'content-type': 'text/event-stream' } });
    const evs = await collect(R.readEvents(res));
    assert.deepEqual(summary(evs), SSE_EXPECTED);
    const nd = new Response(NDJSON, { headers: { 'content-type': 'application/x-ndjson' } });
    await assert.rejects(collect(R.readEvents(nd)),
        (e) => e.kind === 'provider' && e.status === 529);
    const tx = new Response(TEXT, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
    assert.equal((await collect(R.readEvents(tx))).map((e) => e.text).join(''), TEXT);
});

test('readEvents: errors throw by default, or are yielded with errors: "yield"', async () => {
    const body = 'event: error\ndata: {"agent":"a","kind":"timeout","message":"idle"}\n\n' +
        'event: agent_chunk\ndata: {"agent":"b","type":"text","index":0,"text":"still here"}\n\n';
    const seen = [];
    await assert.rejects(async () => {
        for await (const ev of R.readEvents(chunks([body]).stream, { format: 'events' }))
            seen.push(ev);
    }, (e) => e instanceof R.RelayError && e.kind === 'timeout' && e.source === 'a' &&
        e.message === 'idle');
    assert.equal(seen.length, 0);
    const opts = { format: 'events', errors: 'yield' };
    const all = await collect(R.readEvents(chunks([body]).stream, opts));
    assert.deepEqual(all.map((e) => [e.type, e.error ? e.error.kind : null, e.text]),
        [['error', 'timeout', undefined], ['agent_chunk', null, 'still here']]);
});

test('readEvents: typed errors: non-2xx, unknown type, a failed body, bad options', async () => {
    await assert.rejects(collect(R.readEvents(new Response('upstream down', { status: 502 }))),
        (e) => e instanceof R.RelayError && e.kind === 'http' && e.status === 502 &&
            e.body === 'upstream down');
    const html = new Response('<html>', { headers: { 'content-type': 'text/html' } });
    await assert.rejects(collect(R.readEvents(html)),
        (e) => e instanceof R.RelayError && e.kind === 'protocol' && /text\/html/.test(e.message));
    let pulls = 0;
    const failing = new ReadableStream({
        pull(c) {
            if (pulls++ === 0) c.enqueue(enc('{"type":"text","index":0,"text":"a"}\n'));
            else c.error(new TypeError('connection reset'));
        },
    }, { highWaterMark: 0 });
    const seen = [];
    await assert.rejects(async () => {
        for await (const ev of R.readEvents(failing, { format: 'ndjson' })) seen.push(ev.text);
    }, (e) => e instanceof R.RelayError && e.kind === 'network' &&
        e.cause.message === 'connection reset');
    assert.deepEqual(seen, ['a']);
    await assert.rejects(collect(R.readEvents(chunks([]).stream)), TypeError); /* no format */
    await assert.rejects(collect(R.readEvents('http://x', { format: 'text' })), TypeError);
    const badErrors = { format: 'text', errors: 'no' };
    await assert.rejects(collect(R.readEvents(chunks([]).stream, badErrors)), TypeError);
});

test('readEvents: an error body is read in part; a bodiless 2xx has no events', async () => {
    let cancelled = false;
    const endless = new ReadableStream({
        pull: (c) => c.enqueue(enc('x'.repeat(600))),
        cancel: () => {
            cancelled = true;
        },
    });
    await assert.rejects(collect(R.readEvents(new Response(endless, { status: 503 }))),
        (e) => e.kind === 'http' && e.status === 503 && e.body.length >= 1024 &&
            e.body.length < 2048);
    assert.ok(cancelled);
    assert.deepEqual(await collect(R.readEvents(new Response(null, { status: 204 }))), []);
});

test('readEvents: AbortSignal cancels the body while a read waits, throws its reason', async () => {
    const { stream, rec } = chunks(['{"type":"text","index":0,"text":"one"}\n'], true);
    const ac = new AbortController();
    const seen = [];
    const done = (async () => {
        for await (const ev of R.readEvents(stream, { format: 'ndjson', signal: ac.signal })) {
            seen.push(ev.text);
            if (seen.length === 1) setImmediate(() => ac.abort()); /* while the next read waits */
        }
    })();
    await assert.rejects(done, (e) => e.name === 'AbortError');
    assert.deepEqual(seen, ['one']);
    assert.ok(rec.cancelled && rec.cancelled.name === 'AbortError', String(rec.cancelled));
    assert.equal(stream.locked, false);
    /* Already aborted: nothing is read. */
    const again = chunks(['x'], true);
    const aborted = { format: 'text', signal: AbortSignal.abort() };
    await assert.rejects(collect(R.readEvents(again.stream, aborted)),
        (e) => e.name === 'AbortError');
    assert.equal(again.rec.pulls, 0);
});

test('readEvents: breaking out of the loop cancels the body', async () => {
    const { stream, rec } = chunks(['a', 'b'], true);
    for await (const ev of R.readEvents(stream, { format: 'text' })) if (ev.text === 'a') break;
    assert.equal(rec.cancelled, 'no reason');
});

test('TokenwireReader: open, named events, text, message, lastEventId, end', async () => {
    const log = [];
    const sse = new Response(SSE, { headers: { 'content-type': 'text/event-stream' } });
    const r = new R.TokenwireReader(sse);
    assert.equal(r.readyState, R.TokenwireReader.CONNECTING);
    r.onopen = () => log.push('open');
    r.addEventListener('agent_start',
        (e) => log.push(`agent_start ${e.data.model} ${e.lastEventId}`));
    r.addEventListener('text', (e) => log.push(`text ${e.text}`));
    r.onmessage = (e) => log.push(`message ${e.event}`);
    r.onerror = (e) => log.push(`error ${e.error.kind} ${e.error.recoverable} ${r.readyState}`);
    r.onend = () => log.push(`end ${r.readyState} ${r.lastEventId}`);
    await r.finished;
    assert.deepEqual(log, [
        'open', 'agent_start m s:0', 'message agent_start',
        'text Hé—llo 😀', 'message agent_chunk', 'text  wörld', 'message agent_chunk',
        'error protocol true 1', 'message error', 'message agent_complete', 'message message',
        'message complete', 'end 2 s:2',
    ]);
    const texts = [];
    const nd = new R.TokenwireReader(chunks([NDJSON]).stream, { format: 'ndjson' });
    nd.addEventListener('text', (e) => texts.push(e.text));
    await nd.finished;
    const tx = new R.TokenwireReader(chunks(['a', 'b😀']).stream, { format: 'text' });
    tx.addEventListener('text', (e) => texts.push(e.text));
    await tx.finished;
    assert.deepEqual(texts, ['Hé😀', ' end—', 'a', 'b😀']);
});

test('TokenwireReader: a failure closes it; close() and the signal stop it quietly', async () => {
    const errs = [];
    const bad = new R.TokenwireReader(new Response('nope', { status: 500 }));
    bad.onerror = (e) => errs.push([e.error.kind, e.error.status, bad.readyState]);
    await bad.finished;
    assert.deepEqual(errs, [['http', 500, 2]]);

    const { stream, rec } = chunks(['one'], true);
    const r = new R.TokenwireReader(stream, { format: 'text' });
    const log = [];
    r.addEventListener('text', (e) => {
        log.push(e.text);
        r.close();
    });
    r.onerror = r.onend = (e) => log.push(e.type);
    await r.finished;
    assert.deepEqual(log, ['one']);
    assert.equal(r.readyState, 2);
    assert.ok(rec.cancelled);

    const ac = new AbortController();
    const held = chunks([], true);
    const s = new R.TokenwireReader(held.stream, { format: 'text', signal: ac.signal });
    s.onerror = s.onend = (e) => log.push(e.type);
    ac.abort();
    await s.finished;
    assert.deepEqual(log, ['one']);
    assert.ok(held.rec.cancelled);
});

test('reader.d.ts: a strict TypeScript sample compiles against it (DOM lib, no Node types)', () => {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    assert.ok(fs.existsSync(tsc), 'typescript is installed (devDependency)');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tw-browser-types-'));
    const sample = `
import {
    readEvents, TokenwireReader, RelayError, StreamDecoder, type RelayMessage,
} from 'tokenwire/browser';
export async function run(signal: AbortSignal): Promise<string> {
    let text = '';
    const res = await fetch('/chat', { method: 'POST', body: '{}', signal });
    try {
        for await (const ev of readEvents(res, { format: 'events', signal, errors: 'throw' })) {
            const m: RelayMessage = ev;
            if (m.text !== undefined) text += m.text;
            const id: string = m.id;
            void id;
        }
    } catch (e) {
        if (e instanceof RelayError)
            return e.kind + e.status + (e.source ?? '') + String(e.recoverable);
        throw e;
    }
    const d = new StreamDecoder('ndjson');
    const evs: RelayMessage[] = [...d.feed(new Uint8Array(0)), ...d.finish()];
    const r = new TokenwireReader('/chat', { format: 'ndjson', init: { method: 'POST' }, signal });
    r.addEventListener('text', (e) => { text += e.text ?? ''; });
    r.onerror = (e) => { if (e.error) text += e.error.kind; };
    r.onmessage = function (e) { text += e.event + e.lastEventId + this.readyState; };
    await r.finished;
    r.close();
    // @ts-expect-error: not a relay format
    new StreamDecoder('openai');
    return text + evs.length + TokenwireReader.CLOSED;
}
`;
    try {
        fs.writeFileSync(path.join(dir, 'sample.ts'), sample);
        /* Resolved through package.json's "./browser" export, as a bundler's TypeScript does. */
        fs.mkdirSync(path.join(dir, 'node_modules'));
        fs.symlinkSync(root, path.join(dir, 'node_modules', 'tokenwire'), 'dir');
        fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
            compilerOptions: {
                strict: true, noEmit: true, target: 'ES2022', module: 'es2022',
                moduleResolution: 'bundler', types: [], skipLibCheck: false,
                lib: ['ES2022', 'DOM', 'DOM.Iterable', 'DOM.AsyncIterable'],
            },
            files: ['sample.ts'],
        }));
        const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stdout + r.stderr);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
