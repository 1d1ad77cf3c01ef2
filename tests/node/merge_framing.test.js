'use strict';
/* merge() frames its sources by the core's rule (tw_merge.h, tw_framer): agent_start just
 * before a source's first event, events tagged with the source, END not forwarded, a terminal
 * error forwarded once, agent_complete right after the terminal event. Upstreams are a raw
 * node:net server whose answers the test releases, so the order is decided by events, not by
 * timing. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { tw, rawServer, sseAnswer } = require('./helpers');

let srv;
const held = new Map(); /* path -> socket waiting for its answer */
const arrived = new Map(); /* path -> resolve of a test waiting for that request */
test.before(async () => {
    srv = await rawServer((sock, head) => {
        const path = head.slice(head.indexOf(' ') + 1, head.indexOf(' HTTP/'));
        if (path.startsWith('/now')) sock.end(sseAnswer('now'));
        else if (path.startsWith('/fail'))
            sock.end('HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\nconnection: close\r\n' +
                'content-length: 2\r\n\r\n{}');
        else {
            held.set(path, sock);
            const r = arrived.get(path);
            if (r) r();
        }
    });
});
test.after(() => srv.close());

function requestArrived(path) {
    if (held.has(path)) return Promise.resolve();
    return new Promise((r) => arrived.set(path, r));
}

function release(path) {
    held.get(path).end(sseAnswer('late'));
    held.delete(path);
}

const client = () => new tw.Client({ baseURL: srv.url, maxRetries: 0 });

/* The merged events as "type:source" (text events as "text:source=<text>"). */
function label(ev) {
    return ev.type === 'text' ? `text:${ev.source}=${ev.text}` : `${ev.type}:${ev.source}`;
}

test('a source that starts late gets its agent_start late, right before its first event', async () => {
    const c = client();
    const m = tw.merge({ early: c.stream('/now', { json: {} }), late: c.stream('/late1', { json: {} }) });
    const seen = [];
    await requestArrived('/late1');
    for await (const ev of m) {
        seen.push(label(ev));
        assert.notEqual(ev.type, 'end', 'a source\'s END is not forwarded');
        if (ev.type === 'agent_complete' && ev.source === 'early') release('/late1');
    }
    assert.deepEqual(seen, [
        'agent_start:early', 'start:early', 'text:early=now', 'finish:early', 'agent_complete:early',
        'agent_start:late', 'start:late', 'text:late=late', 'finish:late', 'agent_complete:late',
    ]);
});

test('a failing source: agent_start, its error once, agent_complete; the others go on', async () => {
    const c = client();
    const m = tw.merge({ bad: c.stream('/fail', { json: {} }), good: c.stream('/late2', { json: {} }) });
    await requestArrived('/late2');
    const seen = [];
    const ended = new Promise((r) => m.on('end', r));
    m.on('event', (ev) => {
        seen.push(ev.type === 'error' ? `error:${ev.source}:${ev.kind}:${ev.recoverable}` : label(ev));
        if (ev.type === 'agent_complete' && ev.source === 'bad') release('/late2');
    });
    const results = await ended;
    assert.deepEqual(seen, [
        'agent_start:bad', 'error:bad:http:false', 'agent_complete:bad',
        'agent_start:good', 'start:good', 'text:good=late', 'finish:good', 'agent_complete:good',
    ]);
    assert.equal(results.bad.error.status, 500);
    assert.equal(results.good.summary.text, 'late');
});

test('as bytes (events format) the merge follows the same framing', async () => {
    const c = client();
    const m = tw.merge({ bad: c.stream('/fail', { json: {} }), good: c.stream('/late3', { json: {} }) });
    await requestArrived('/late3');
    const reader = m.toReadableStream().getReader();
    const p = new tw.SSEParser();
    const seen = [];
    for (;;) {
        const r = await reader.read();
        if (r.done) break;
        for (const e of p.feed(r.value)) {
            const d = JSON.parse(e.data);
            seen.push(e.event === 'agent_chunk' ? `${d.type}:${d.agent}` : `${e.event}:${d.agent === undefined ? '' : d.agent}`);
            if (e.event === 'agent_complete' && d.agent === 'bad') release('/late3');
        }
    }
    assert.deepEqual(seen, [
        'agent_start:bad', 'error:bad', 'agent_complete:bad',
        'agent_start:good', 'start:good', 'text:good', 'finish:good', 'agent_complete:good', 'complete:',
    ]);
});
