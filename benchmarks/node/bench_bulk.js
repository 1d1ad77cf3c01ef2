'use strict';
/*
 * Bulk throughput: one OpenAI chat.completions stream of N chunks (default 200,000) from the
 * built-in mock (in a child process) over loopback HTTP, consumed by:
 *   tokenwire emitter          s.on('text', ...)
 *   tokenwire async iterator   for await (const ev of s)
 *   tokenwire text()           for await (const t of s.text())
 *   openai-node                for await (const chunk of openai.chat.completions.create(...))
 *   fetch + eventsource-parser EventSourceParserStream + JSON.parse per chunk
 * CPU per chunk = process.cpuUsage() (user + system, every thread of this process: the
 * tokenwire I/O thread's HTTP, framing and JSON work is included) / chunks delivered.
 *
 *   node benchmarks/node/bench_bulk.js [--chunks N] [--runs R] [--only name,name] [--json]
 */
const { spawn } = require('child_process');
const path = require('path');
const readline = require('readline');
const tw = require('../../node/index.js');

const args = process.argv.slice(2);
function opt(name, def) {
    const i = args.indexOf('--' + name);
    return i >= 0 ? args[i + 1] : def;
}
const N = Number(opt('chunks', 200000));
const RUNS = Number(opt('runs', 3));
const ONLY = opt('only', null);
const JSON_OUT = args.includes('--json');

function startMockChild() {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(__dirname, 'mock_child.js'), '1'], { stdio: ['pipe', 'pipe', 'inherit'] });
        const rl = readline.createInterface({ input: child.stdout });
        rl.once('line', (line) => resolve({ child, port: Number(line) }));
        child.once('error', reject);
    });
}

const body = { model: 'mock-model', stream: true, messages: [{ role: 'user', content: 'bench' }] };

async function measure(name, fn) {
    const best = { cpu: Infinity, wall: 0, n: 0 };
    for (let r = 0; r < RUNS; r++) {
        if (global.gc) global.gc();
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        const n = await fn();
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        const c = process.cpuUsage(c0);
        const cpu = (c.user + c.system) / 1e6;
        if (n !== N) throw new Error(`${name}: got ${n} text chunks, expected ${N}`);
        if (cpu < best.cpu) Object.assign(best, { cpu, wall, n });
    }
    return { name, cpuSeconds: best.cpu, wallSeconds: best.wall, usPerChunk: (best.cpu / N) * 1e6, chunksPerSec: N / best.wall };
}

async function main() {
    const { child, port } = await startMockChild();
    const base = `http://127.0.0.1:${port}/v1`;
    const url = `/chat/completions?chunks=${N}`;
    const client = new tw.Client({ baseURL: base, apiKey: 'sk-bench' });
    const { default: OpenAI } = await import('openai');
    const { EventSourceParserStream } = await import('eventsource-parser/stream');
    const openai = new OpenAI({ baseURL: base, apiKey: 'sk-bench', maxRetries: 0 });

    const contenders = {
        'tokenwire emitter': () => new Promise((resolve, reject) => {
            let n = 0;
            const s = client.stream(url, { json: body });
            s.on('text', () => {
                n++;
            });
            s.on('end', () => resolve(n));
            s.on('error', reject);
        }),
        'tokenwire async iterator': async () => {
            let n = 0;
            for await (const ev of client.stream(url, { json: body })) if (ev.type === 'text') n++;
            return n;
        },
        'tokenwire text()': async () => {
            let n = 0;
            for await (const t of client.stream(url, { json: body }).text()) if (t.length >= 0) n++;
            return n;
        },
        'openai-node': async () => {
            let n = 0;
            const stream = await openai.chat.completions.create(body, { query: { chunks: String(N) } });
            for await (const chunk of stream) {
                const ch = chunk.choices[0];
                if (ch && ch.delta && typeof ch.delta.content === 'string' && ch.delta.content.length) n++;
            }
            return n;
        },
        'fetch + eventsource-parser': async () => {
            let n = 0;
            const res = await fetch(base + url, {
                method: 'POST',
                headers: { 'Content-Type': 'application/json', Authorization: 'Bearer sk-bench' },
                body: JSON.stringify(body),
            });
            const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
            for await (const ev of events) {
                if (ev.data === '[DONE]') break;
                const chunk = JSON.parse(ev.data);
                const ch = chunk.choices[0];
                if (ch && ch.delta && typeof ch.delta.content === 'string' && ch.delta.content.length) n++;
            }
            return n;
        },
    };

    const rows = [];
    try {
        for (const [name, fn] of Object.entries(contenders)) {
            if (ONLY && !ONLY.split(',').some((o) => name.includes(o))) continue;
            await fn(); /* warm-up run (JIT, connection) with the same size */
            rows.push(await measure(name, fn));
        }
    } finally {
        child.stdin.end();
    }
    const ref = rows.find((r) => r.name === 'tokenwire emitter');
    if (JSON_OUT) {
        console.log(JSON.stringify({ chunks: N, runs: RUNS, node: process.version, rows }, null, 2));
        return;
    }
    console.log(`bulk: ${N} openai chunks over loopback, best of ${RUNS} runs, node ${process.version}`);
    console.log('| consumer | CPU µs/chunk | wall s | chunks/s | vs emitter |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const r of rows) {
        const ratio = ref ? (r.usPerChunk / ref.usPerChunk).toFixed(1) + '×' : '-';
        console.log(`| ${r.name} | ${r.usPerChunk.toFixed(3)} | ${r.wallSeconds.toFixed(2)} | ${Math.round(r.chunksPerSec).toLocaleString('en-US')} | ${ratio} |`);
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
