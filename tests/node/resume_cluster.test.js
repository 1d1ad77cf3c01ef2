'use strict';
/* Node cluster: this test process is the primary; two workers run resume_server.js on one
 * shared port (listen(0) gives every worker the same port; the primary hands connections out
 * round-robin). Each worker makes its own RedisTee; a relay started on one worker is resumed
 * on whichever worker the next connection lands on, byte for byte. */
const test = require('node:test');
const assert = require('node:assert/strict');
const cluster = require('cluster');
const path = require('path');
const { startMock, expectedText } = require('./helpers');
const { startRedis, blocks, openaiText, readSome } = require('./resume_util');

test('cluster workers tee and resume each other\'s streams', { timeout: 60000 }, async () => {
    const mock = startMock();
    const redis = await startRedis();
    cluster.setupPrimary({ exec: path.join(__dirname, 'resume_server.js'), silent: true });
    cluster.schedulingPolicy = cluster.SCHED_RR;
    const env = { TW_MOCK_URL: mock.url, TW_REDIS_URL: redis.url };
    const workers = [cluster.fork(env), cluster.fork(env)];
    try {
        const ports = await Promise.all(workers.map((w) => new Promise((resolve) => {
            let b = '';
            w.process.stdout.on('data', (d) => {
                b += d;
                const m = /listening (\d+)/.exec(b);
                if (m) resolve(Number(m[1]));
            });
        })));
        assert.equal(ports[0], ports[1]);
        const base = `http://127.0.0.1:${ports[0]}`;
        for (let i = 0; i < 4; i++) {
            const first = await readSome(`${base}/chat?chunks=30&delay_ms=10&detach=30`, 3);
            const last = first[first.length - 1].id;
            const r = await fetch(`${base}/resume`, { headers: { 'last-event-id': last } });
            assert.equal(r.status, 200);
            assert.equal(openaiText(first.concat(blocks(await r.text()))), expectedText(30));
        }
    } finally {
        await Promise.all(workers.map((w) => new Promise((r) => {
            if (w.isDead()) return r();
            w.once('exit', r);
            w.kill('SIGKILL');
        })));
        await redis.kill();
        mock.stop();
    }
});
