'use strict';
/* Streams that survive (issue 15) in Node: relays teed to a real redis-server from C and resumed
 * byte for byte after every event, 404 / 400 / 503 answers, Redis down at start, then two node
 * processes (resume_server.js) sharing Redis: a reader leaves one mid-answer and resumes on the
 * other with Last-Event-ID; a stop on one cancels the detached producer on the other; Redis
 * restarted mid-stream. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { tw, startMock, expectedText, readAll } = require('./helpers');
const { freePort, startRedis, startInstance, blocks, openaiText, readSome } =
    require('./resume_util');

const T = { timeout: 60000 };
const BODY = { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] };
let mock;
let redis;

test.before(async () => {
    mock = startMock();
    redis = await startRedis();
});
test.after(async () => {
    await redis.kill();
    mock.stop();
});

function upstream(chunks, delayMs = 0) {
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    return c.stream(`/chat/completions?chunks=${chunks}&delay_ms=${delayMs}`, { json: BODY });
}

for (const format of ['openai', 'ndjson', 'events']) {
    test(`resume after every event gives the live bytes after it (${format})`, T, async () => {
        const tee = new tw.RedisTee({ url: redis.url, prefix: 'n1:' });
        try {
            const s = upstream(8, 3);
            const rs = s.toReadableStream({ format, tee, heartbeatMs: 0 });
            const live = (await readAll(rs)).toString();
            assert.ok(tee.flush(5000));
            const n = rs.nextEventSeq();
            assert.ok(n > 8);
            const whole = await (await tw.resumeResponse(tee, null,
                { lastEventId: s.streamId, format })).text();
            assert.equal(whole, live);
            for (let k = 0; k < n; k++) {
                const r = await tw.resumeResponse(tee, null,
                    { lastEventId: `${s.streamId}:${k}`, format });
                assert.equal(r.status, 200);
                const mark = format === 'ndjson' ? `{"event_id":"${s.streamId}:${k + 1}"`
                    : `id: ${s.streamId}:${k + 1}\n`;
                const i = live.indexOf(mark);
                assert.equal(await r.text(), i >= 0 ? live.slice(i) : '', `after ${k}`);
            }
            assert.equal(tee.stats().streamsDropped, 0);
        } finally {
            tee.close();
        }
    });
}

test('unknown id -> 404 with a JSON body; none -> 400', T, async () => {
    const tee = new tw.RedisTee({ url: redis.url, prefix: 'n2:' });
    try {
        const req = new Request('http://x/resume', { headers: { 'last-event-id': 'nosuch:4' } });
        const r = await tw.resumeResponse(tee, req);
        assert.equal(r.status, 404);
        assert.match((await r.json()).detail, /unknown or expired/);
        const none = await tw.resumeResponse(tee, new Request('http://x/resume'));
        assert.equal(none.status, 400);
        await assert.rejects(tw.resumeStream(tee, 'nosuch:1', { graceMs: 0 }),
            tw.ResumeNotFoundError);
    } finally {
        tee.close();
    }
});

test('Redis down at start: the live relay serves, resume 503, require throws', T, async () => {
    const port = await freePort();
    const tee = new tw.RedisTee({ url: `redis://127.0.0.1:${port}/0`, connectTimeoutMs: 200 });
    try {
        const s = upstream(6);
        const live = (await readAll(s.toReadableStream({ tee, heartbeatMs: 0 }))).toString();
        assert.equal(openaiText(blocks(live)), expectedText(6));
        const r = await tw.resumeResponse(tee, null, { lastEventId: `${s.streamId}:1` });
        assert.equal(r.status, 503);
        assert.equal(tee.available, false);
    } finally {
        tee.close();
    }
    const url = `redis://127.0.0.1:${port}/0`;
    assert.throws(() => new tw.RedisTee({ url, require: true, connectTimeoutMs: 200 }),
        tw.RedisUnavailableError);
});

test('200 concurrent teed relays, each resumable whole', T, async () => {
    const tee = new tw.RedisTee({ url: redis.url, prefix: 'n3:' });
    try {
        const streams = Array.from({ length: 200 }, () => upstream(10, 20));
        const lives = await Promise.all(streams.map(async (s) =>
            (await readAll(s.toReadableStream({ tee, heartbeatMs: 0 }))).toString()));
        assert.ok(tee.flush(10000));
        const again = await Promise.all(streams.map(async (s) =>
            (await tw.resumeResponse(tee, null, { lastEventId: s.streamId })).text()));
        assert.deepEqual(again, lives);
        for (const l of lives) assert.equal(openaiText(blocks(l)), expectedText(10));
        assert.equal(tee.stats().streamsDropped, 0);
    } finally {
        tee.close();
    }
});

test('two node processes: resume on the other with Last-Event-ID: the rest once', T, async () => {
    const a = await startInstance(mock.url, redis.url);
    const b = await startInstance(mock.url, redis.url);
    try {
        const first = await readSome(`${a.url}/chat?chunks=60&delay_ms=15&detach=30`, 5);
        const last = first[first.length - 1].id;
        const r = await fetch(`${b.url}/resume`, { headers: { 'last-event-id': last } });
        assert.equal(r.status, 200);
        const rest = blocks(await r.text());
        const all = first.concat(rest);
        assert.deepEqual(all.map((e) => Number(e.id.split(':').pop())), all.map((_, i) => i));
        assert.equal(openaiText(all), expectedText(60));
        assert.equal(rest[rest.length - 1].data, '[DONE]');
        const r404 = await fetch(`${b.url}/resume?resume=feedface:3`);
        assert.equal(r404.status, 404);
    } finally {
        await a.kill();
        await b.kill();
    }
});

test('a stop on one process cancels the detached producer on the other', T, async () => {
    const a = await startInstance(mock.url, redis.url);
    const b = await startInstance(mock.url, redis.url);
    try {
        const first = await readSome(`${a.url}/chat?chunks=3000&delay_ms=10&detach=60`, 3);
        const sid = first[0].id.slice(0, first[0].id.lastIndexOf(':'));
        assert.equal((await fetch(`${b.url}/stop/${sid}`, { method: 'POST' })).status, 200);
        /* The resume ends once the producer on A recorded its end: the stop reached it. */
        const last = first[first.length - 1].id;
        const r = await fetch(`${b.url}/resume`, { headers: { 'last-event-id': last } });
        const rest = blocks(await r.text());
        const text = openaiText(first.concat(rest).filter((e) => !e.data.includes('"error"')));
        assert.ok(expectedText(3000).startsWith(text) && text.length < expectedText(3000).length);
    } finally {
        await a.kill();
        await b.kill();
    }
});

test('Redis restarted mid-stream: live reader whole, one lost notice, then teed', T, async () => {
    const r = await startRedis();
    const a = await startInstance(mock.url, r.url);
    let r2 = null;
    try {
        const resp = await fetch(`${a.url}/chat?chunks=80&delay_ms=15`);
        const reader = resp.body.getReader();
        const dec = new TextDecoder();
        let text = dec.decode((await reader.read()).value, { stream: true });
        await r.kill();
        r2 = await startRedis(r.port);
        for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            text += dec.decode(value, { stream: true });
        }
        const evs = blocks(text);
        assert.equal(openaiText(evs), expectedText(80));
        const sid = evs[0].id.slice(0, evs[0].id.lastIndexOf(':'));
        const notices = (await (await fetch(`${a.url}/notices`)).json()).notices;
        const lost = notices.filter((n) => n[0] === 'lost' && n[1] === sid);
        assert.equal(lost.length, 1, JSON.stringify(notices));
        const evs2 = blocks(await (await fetch(`${a.url}/chat?chunks=4&delay_ms=1`)).text());
        const id2 = encodeURIComponent(evs2[0].id);
        const again = blocks(await (await fetch(`${a.url}/resume?resume=${id2}`)).text());
        assert.deepEqual(again, evs2.slice(1));
    } finally {
        await a.kill();
        if (r2) await r2.kill();
    }
});

test('detached: the reader leaves, nobody resumes: cancelled as abandoned', T, async () => {
    const kinds = [];
    const tee = new tw.RedisTee({ url: redis.url, prefix: 'n4:', stopPollMs: 50,
        onNotice: (kind) => kinds.push(kind) });
    try {
        const s = upstream(2000, 10);
        const rs = s.toReadableStream({ tee, detach: 0.3, heartbeatMs: 0 });
        const reader = rs.getReader();
        const first = Buffer.from((await reader.read()).value).toString();
        await reader.cancel(); /* the browser leaves; the upstream keeps running */
        assert.equal(s.done, false);
        /* A reader that does not announce itself follows the teed stream to its end. */
        const body = await tw.resumeStream(tee, s.streamId,
            { presenceTtlMs: 0, graceMs: 5000, heartbeatMs: 0 });
        const all = await new Response(body).text();
        assert.ok(all.startsWith(first));
        assert.ok(kinds.includes('abandoned'), JSON.stringify(kinds));
        assert.equal(s.done, true);
        const text = openaiText(blocks(all).filter((e) => !e.data.includes('"error"')));
        assert.ok(text.length > 0 && text.length < expectedText(2000).length);
    } finally {
        tee.close();
    }
});
