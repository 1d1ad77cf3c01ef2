'use strict';
/* Headless Chromium's own EventSource resumes a teed answer after the server that served it is
 * killed. Two resume_server.js instances share a real redis-server; the generation runs
 * detached on B (POST /start); the page's EventSource follows it through a proxy in this process
 * that sends /events to A. Once the page has shown some events, A is killed (SIGKILL) and the
 * proxy points at B: the browser reconnects by itself with Last-Event-ID, and the page must show
 * the whole answer, every event once. Every wait is on a signal (page state, process lines). */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const http = require('http');
const { startMock, expectedText, listen } = require('./helpers');
const { startRedis, startInstance } = require('./resume_util');

const CHROMIUM = '/usr/bin/chromium';
const T = { timeout: 90000 };

const PAGE = `<!doctype html><meta charset="utf-8"><pre id="out"></pre><script>
window.S = { n: 0, text: '', ids: [], errors: 0, done: false };
(async () => {
    const r = await fetch('/start?chunks=60&delay_ms=40', { method: 'POST' });
    const { streamId } = await r.json();
    const es = new EventSource('/events?resume=' + encodeURIComponent(streamId));
    es.onmessage = (e) => {
        S.ids.push(e.lastEventId);
        if (e.data === '[DONE]') { S.done = true; es.close(); return; }
        for (const c of JSON.parse(e.data).choices || [])
            S.text += (c.delta && c.delta.content) || '';
        S.n++;
        document.getElementById('out').textContent = S.text;
    };
    es.onerror = () => { S.errors++; };
})();
</script>`;

test('Chromium EventSource resumes on another instance after a kill: whole answer', T, async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is installed (scripts/ensure-deps.sh node)`);
    const mock = startMock();
    const redis = await startRedis();
    const a = await startInstance(mock.url, redis.url);
    const b = await startInstance(mock.url, redis.url);
    let events = a.url; /* where /events goes */
    const proxy = http.createServer((req, res) => {
        if (req.url === '/') {
            res.writeHead(200, { 'content-type': 'text/html' });
            res.end(PAGE);
            return;
        }
        const target = new URL(req.url, req.url.startsWith('/start') ? b.url : events);
        const up = http.request(target, { method: req.method, headers: req.headers }, (ur) => {
            res.writeHead(ur.statusCode, ur.headers);
            /* A short reconnection delay (the default is ~3 s in Chromium). */
            if ((ur.headers['content-type'] || '').startsWith('text/event-stream'))
                res.write('retry: 50\n\n');
            ur.pipe(res);
            ur.on('error', () => res.destroy());
            ur.on('aborted', () => res.destroy());
        });
        up.on('error', () => res.destroy());
        res.on('close', () => up.destroy());
        req.pipe(up);
    });
    const port = await listen(proxy);
    const puppeteer = require('puppeteer-core');
    const env = { ...process.env };
    delete env.LD_PRELOAD;
    const browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        env,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    try {
        const page = await browser.newPage();
        await page.goto(`http://127.0.0.1:${port}/`);
        await page.waitForFunction(() => window.S && window.S.n >= 5, { timeout: 30000 });
        events = b.url;
        await a.kill('SIGKILL');
        await page.waitForFunction(() => window.S.done, { timeout: 60000 });
        const S = await page.evaluate(() => window.S);
        assert.equal(S.text, expectedText(60));
        assert.ok(S.errors >= 1, 'the EventSource saw the connection drop');
        const seqs = S.ids.map((id) => Number(id.split(':').pop()));
        assert.deepEqual(seqs, seqs.map((_, i) => i), 'every event once, in order');
        assert.equal(await page.$eval('#out', (e) => e.textContent), expectedText(60));
    } finally {
        await browser.close();
        await b.kill();
        await a.kill();
        proxy.close();
        await redis.kill();
        mock.stop();
    }
});
