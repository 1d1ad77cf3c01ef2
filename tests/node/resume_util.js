'use strict';
/* Shared parts of the resume suites: a real redis-server on a free 127.0.0.1 port (awaited
 * through its readiness line), resume_server.js instances (awaited through their "listening"
 * line), and SSE helpers. */
const { spawn } = require('child_process');
const net = require('net');
const path = require('path');

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const p = s.address().port;
            s.close(() => resolve(p));
        });
    });
}

/* Resolves with the first match of re in the child's stdout. */
function waitLine(child, re, what) {
    return new Promise((resolve, reject) => {
        let buf = '';
        const onData = (d) => {
            buf += d;
            const m = re.exec(buf);
            if (m) {
                child.stdout.off('data', onData);
                child.stdout.resume(); /* later output must not fill a pipe nobody reads */
                resolve(m);
            }
        };
        child.stdout.on('data', onData);
        child.once('exit', (code) =>
            reject(new Error(`${what} exited (${code}) before it was ready`)));
        child.once('error', reject);
    });
}

async function startRedis(port) {
    port = port || (await freePort());
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
        '--appendonly', 'no'];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitLine(child, /Ready to accept connections/, 'redis-server');
    return {
        port,
        url: `redis://127.0.0.1:${port}/0`,
        kill: () => new Promise((r) => {
            if (child.exitCode !== null || child.signalCode !== null) return r();
            child.once('exit', () => r());
            child.kill('SIGKILL');
        }),
    };
}

async function startInstance(mockUrl, redisUrl) {
    const child = spawn(process.execPath, [path.join(__dirname, 'resume_server.js')], {
        env: { ...process.env, TW_MOCK_URL: mockUrl, TW_REDIS_URL: redisUrl },
        stdio: ['ignore', 'pipe', 'inherit'],
    });
    const m = await waitLine(child, /listening (\d+)/, 'resume_server.js');
    return {
        url: `http://127.0.0.1:${m[1]}`,
        child,
        kill: (sig = 'SIGKILL') => new Promise((r) => {
            if (child.exitCode !== null || child.signalCode !== null) return r();
            child.once('exit', () => r());
            child.kill(sig);
        }),
    };
}

/* [{id, data}] of SSE text (comments dropped). */
function blocks(text) {
    const out = [];
    for (const b of text.split('\n\n')) {
        if (!b || b.startsWith(':')) continue;
        let id = null;
        const data = [];
        for (const ln of b.split('\n')) {
            if (ln.startsWith('id: ')) id = ln.slice(4);
            else if (ln.startsWith('data: ')) data.push(ln.slice(6));
        }
        out.push({ id, data: data.join('\n') });
    }
    return out;
}

function openaiText(evs) {
    let t = '';
    for (const e of evs) {
        if (e.data === '[DONE]') continue;
        const j = JSON.parse(e.data);
        for (const c of j.choices || []) t += (c.delta && c.delta.content) || '';
    }
    return t;
}

/* Reads whole SSE blocks of a fetch Response until n events, then disconnects. */
async function readSome(url, n) {
    const ac = new AbortController();
    const r = await fetch(url, { signal: ac.signal });
    const reader = r.body.getReader();
    let buf = '';
    let evs = [];
    const dec = new TextDecoder();
    while (evs.length < n) {
        const { value, done } = await reader.read();
        if (done) throw new Error('the relay ended early');
        buf += dec.decode(value, { stream: true });
        const i = buf.lastIndexOf('\n\n');
        if (i >= 0) {
            evs = evs.concat(blocks(buf.slice(0, i + 2)));
            buf = buf.slice(i + 2);
        }
    }
    ac.abort();
    await reader.cancel().catch(() => {});
    return evs;
}

module.exports = { freePort, startRedis, startInstance, blocks, openaiText, readSome };
