'use strict';
/* Fixtures of browser_reader.test.js: a gated OpenAI-style upstream (the test sends each
 * token) and the page that drives tokenwire/browser in Chromium. */
const http = require('http');
const { tw, listen } = require('./helpers');

function chunk(delta, finish) {
    return `data: ${JSON.stringify({ id: 'g1', object: 'chat.completion.chunk', model: 'gate',
        choices: [{ index: 0, delta, finish_reason: finish || null }] })}\n\n`;
}

/**
 * An upstream whose answers stay open until the test writes them. next() resolves, when the
 * next request arrives, with {token(text), finish(), closed}: closed resolves when the
 * client's connection goes away.
 */
async function startGate() {
    const waiting = [];
    const arrived = [];
    const server = http.createServer((req, res) => {
        req.resume();
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.flushHeaders();
        const closed = new Promise((r) => res.on('close', r));
        const up = {
            token: (text) => res.write(chunk({ content: text })),
            finish: () => res.end(chunk({}, 'stop') + 'data: [DONE]\n\n'),
            closed,
        };
        if (waiting.length) waiting.shift()(up);
        else arrived.push(up);
    });
    const port = await listen(server);
    return {
        client: new tw.Client({ baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 }),
        next: () => (arrived.length ? Promise.resolve(arrived.shift())
            : new Promise((r) => waiting.push(r))),
        close: () => {
            server.closeAllConnections();
            return new Promise((r) => server.close(r));
        },
    };
}

/* window.T.read(url, opts) reads with readEvents into T.state (text, event types and ids, data
 * with opts.keepData, bytes per read with opts.wrap, error, finished); opts.ack calls twAck()
 * after each read.
 * window.T.reader(url, opts) reads with TokenwireReader into T.log and resolves with it. */
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>tokenwire/browser</title>
<pre id="out"></pre>
<script type="module">
import { readEvents, TokenwireReader, RelayError } from '/reader.mjs';
const out = document.getElementById('out');

function counted(body, st, ack) {
    const reader = body.getReader();
    return new ReadableStream({
        async pull(c) {
            const r = await reader.read();
            if (r.done) return c.close();
            st.reads.push(r.value.length);
            c.enqueue(r.value);
            if (ack) window.twAck();
        },
        cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
}

async function read(url, opts) {
    const st = { text: '', types: [], ids: [], data: [], reads: [], error: null, finished: false };
    T.state = st;
    out.textContent = '';
    const ac = new AbortController();
    T.ac = ac;
    try {
        const res = await fetch(url, { signal: ac.signal });
        const input = opts.wrap ? counted(res.body, st, opts.ack) : res;
        for await (const ev of readEvents(input, { format: opts.format, signal: ac.signal })) {
            st.types.push(ev.type);
            st.ids.push(ev.id);
            if (opts.keepData) st.data.push(ev.data);
            if (ev.text !== undefined) {
                st.text += ev.text;
                out.textContent = st.text;
            }
        }
    } catch (e) {
        st.error = { name: e.name, kind: e.kind, status: e.status, source: e.source,
            message: e.message, isRelayError: e instanceof RelayError };
    }
    st.finished = true;
}

function reader(url, opts) {
    const log = { text: '', messages: 0, errors: [], end: 0, states: [], lastEventId: '',
        done: false };
    T.log = log;
    const r = new TokenwireReader(url);
    r.onopen = () => log.states.push(r.readyState);
    r.addEventListener('text', (e) => {
        log.text += e.text;
        if (opts.closeAfterFirst) {
            r.close();
            log.states.push(r.readyState);
        }
    });
    r.onmessage = () => log.messages++;
    r.onerror = (e) => log.errors.push([e.error.kind, r.readyState]);
    r.onend = () => {
        log.end++;
        log.states.push(r.readyState);
    };
    return r.finished.then(() => {
        log.lastEventId = r.lastEventId;
        log.done = true;
        return log;
    });
}

window.T = { read, reader, state: null, log: null, ac: null };
</script>
`;

module.exports = { startGate, PAGE };
