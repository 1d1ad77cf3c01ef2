'use strict';
/* Resumable relays (issue 15) in Node: CPU per relayed event with the Redis tee vs without,
 * resume latency (resumeStream called -> first replayed byte), Redis memory per finished
 * stream. The mock runs in its own process (mock_child.js), redis-server too; this process
 * relays --streams paced streams at once through toReadableStream, once without and once with
 * { tee }, alternating --repeat times; CPU is the whole process's (addon threads included).
 *
 *   node benchmarks/node/bench_resume.js --streams 300 --chunks 40 --repeat 3
 */
const { spawn } = require('child_process');
const net = require('net');
const path = require('path');
const tw = require('../../node/index.js');

function arg(name, def) {
    const i = process.argv.indexOf('--' + name);
    return i > 0 ? Number(process.argv[i + 1]) : def;
}
const STREAMS = arg('streams', 300), CHUNKS = arg('chunks', 40), DELAY = arg('delay-ms', 20);
const REPEAT = arg('repeat', 3);

function freePort() {
    return new Promise((r) => {
        const s = net.createServer().listen(0, '127.0.0.1', () => {
            const p = s.address().port;
            s.close(() => r(p));
        });
    });
}

function firstLine(child, re) {
    return new Promise((resolve) => {
        let b = '';
        const on = (d) => {
            b += d;
            const m = re.exec(b);
            if (m) {
                child.stdout.off('data', on);
                child.stdout.resume();
                resolve(m);
            }
        };
        child.stdout.on('data', on);
    });
}

function redisCmd(port, ...args) {
    return new Promise((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1');
        let buf = '';
        s.on('data', (d) => {
            buf += d;
            const m = /^\$(\d+)\r\n/.exec(buf);
            if (m && buf.length >= m[0].length + Number(m[1])) {
                s.end();
                resolve(buf.slice(m[0].length, m[0].length + Number(m[1])));
            }
        });
        s.on('error', reject);
        const bulk = args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
        s.write(`*${args.length}\r\n` + bulk);
    });
}

async function usedMemory(port) {
    return Number(/used_memory:(\d+)/.exec(await redisCmd(port, 'INFO', 'memory'))[1]);
}

async function relayMany(client, n, chunks, delay, tee) {
    const body = { model: 'm', stream: true, messages: [] };
    const streams = Array.from({ length: n }, () =>
        client.stream(`/chat/completions?chunks=${chunks}&delay_ms=${delay}`, { json: body }));
    const c0 = process.cpuUsage();
    let events = 0;
    await Promise.all(streams.map(async (s) => {
        const rs = s.toReadableStream(tee ? { tee, heartbeatMs: 0 }
            : { eventIds: true, heartbeatMs: 0 });
        for await (const chunk of rs) void chunk;
        events += rs.nextEventSeq();
    }));
    const c = process.cpuUsage(c0);
    return { cpu: (c.user + c.system) / events, ids: streams.map((s) => s.streamId) };
}

/* Vercel's resumable-stream (npm, optional: npm install --no-save resumable-stream redis)
 * against the same Redis: the same relays wrapped in createNewResumableStream (it keeps the
 * chunks in the producer's memory and publishes them through pub/sub only while a resumer
 * listens), plus the latency of resuming a live stream (resumeExistingStream -> first chunk). */
async function peer(client, rport, rows) {
    const { createResumableStreamContext } = require('resumable-stream');
    const { createClient } = require('redis');
    const url = `redis://127.0.0.1:${rport}`;
    const pub = createClient({ url }), sub = createClient({ url });
    await pub.connect();
    await sub.connect();
    const ctx = createResumableStreamContext({ waitUntil: null, publisher: pub, subscriber: sub,
        keyPrefix: 'rs' });
    const body = { model: 'm', stream: true, messages: [] };
    rows['resumable-stream'] = [];
    const lat = [];
    for (let i = 0; i < REPEAT; i++) {
        const streams = Array.from({ length: STREAMS }, () =>
            client.stream(`/chat/completions?chunks=${CHUNKS}&delay_ms=${DELAY}`, { json: body }));
        const c0 = process.cpuUsage();
        let events = 0;
        const runs = streams.map(async (s, k) => {
            const rs = await ctx.createNewResumableStream(`s${i}-${k}`, () =>
                s.toReadableStream({ heartbeatMs: 0, eventIds: true })
                    .pipeThrough(new TextDecoderStream()));
            for await (const chunk of rs) void chunk;
            events += CHUNKS + 2;
        });
        if (i === 0) {
            /* Resume 100 live streams once they have started. */
            await new Promise((r) => setTimeout(r, DELAY * 5));
            for (let k = 0; k < Math.min(100, STREAMS); k++) {
                const t0 = process.hrtime.bigint();
                const rs = await ctx.resumeExistingStream(`s${i}-${k}`);
                if (!rs) continue;
                const reader = rs.getReader();
                await reader.read();
                lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
                reader.cancel().catch(() => {});
            }
        }
        await Promise.all(runs);
        const c = process.cpuUsage(c0);
        rows['resumable-stream'].push((c.user + c.system) / events);
    }
    lat.sort((x, y) => x - y);
    const q = (f) => lat[Math.min(lat.length - 1, Math.floor(lat.length * f))].toFixed(2);
    if (lat.length) console.log('resumable-stream: resume of a live stream -> first chunk, ' +
        `${lat.length} resumes: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms ` +
        '(the first repeat\'s CPU includes these)');
    await pub.quit();
    await sub.quit();
}

async function main() {
    const mock = spawn(process.execPath, [path.join(__dirname, 'mock_child.js')],
        { stdio: ['pipe', 'pipe', 'inherit'] });
    const mport = Number((await firstLine(mock, /(\d+)\n/))[1]);
    const rport = await freePort();
    const redis = spawn('redis-server',
        ['--port', String(rport), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: ['ignore', 'pipe', 'inherit'] });
    await firstLine(redis, /Ready to accept/);
    try {
        const client = new tw.Client({ baseURL: `http://127.0.0.1:${mport}/v1`, maxRetries: 0 });
        const tee = new tw.RedisTee({ url: `redis://127.0.0.1:${rport}/0`, prefix: 'bench:' });
        await relayMany(client, 20, 5, 0, tee); /* warm up, connect */
        tee.flush(5000);
        const rows = { 'no tee': [], tee: [] };
        let ids = [];
        let mem = 0;
        for (let i = 0; i < REPEAT; i++) {
            for (const name of ['no tee', 'tee']) {
                const m0 = name === 'tee' && i === 0 ? await usedMemory(rport) : 0;
                const r = await relayMany(client, STREAMS, CHUNKS, DELAY,
                    name === 'tee' ? tee : null);
                rows[name].push(r.cpu);
                if (name === 'tee' && i === 0) {
                    ids = r.ids;
                    tee.flush(10000);
                    mem = ((await usedMemory(rport)) - m0) / STREAMS;
                }
            }
        }
        if (process.argv.includes('--peer')) await peer(client, rport, rows);
        const lat = [];
        for (const id of ids) {
            const t0 = process.hrtime.bigint();
            const after = Math.floor(Math.random() * (CHUNKS - 1));
            const rs = await tw.resumeStream(tee, `${id}:${after}`);
            const reader = rs.getReader();
            await reader.read();
            lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
            await reader.cancel();
        }
        lat.sort((x, y) => x - y);
        const best = (v) => Math.min(...v);
        console.log(`${STREAMS} streams x ${CHUNKS} events at ${DELAY} ms (+ finish), ` +
            `best of ${REPEAT}:`);
        for (const k of Object.keys(rows))
            console.log(`  ${k.padEnd(7)} ${best(rows[k]).toFixed(2)} us CPU/event  ` +
                `(runs: ${rows[k].map((x) => x.toFixed(2)).join(', ')})`);
        console.log(`  ratio   ${(best(rows.tee) / best(rows['no tee'])).toFixed(3)}`);
        const q = (f) => lat[Math.min(lat.length - 1, Math.floor(lat.length * f))].toFixed(2);
        console.log('resume latency (call -> first replayed byte), ' +
            `${lat.length} resumes: p50 ${q(0.5)} ms, ` +
            `p99 ${q(0.99)} ms`);
        console.log(`Redis memory per finished stream (${CHUNKS + 2} events): ` +
            `${mem.toFixed(0)} bytes`);
        console.log('tee stats:', tee.stats());
        tee.close();
    } finally {
        mock.stdin.end();
        redis.kill();
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
