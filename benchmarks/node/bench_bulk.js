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
 * Two upstream shapes: split=event (the mock writes every chunk separately, so the client
 * does a recv per chunk or two: the worst case) and split=coalesce (64 chunks per write, what
 * a busy upstream or a proxy produces).
 *
 *   node benchmarks/node/bench_bulk.js [--chunks N] [--runs R] [--split event,coalesce]
 *                                      [--only name,name] [--json]
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
const SPLITS = opt('split', 'event,coalesce').split(',');
const JSON_OUT = args.includes('--json');

function startMockChild() {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(__dirname, 'mock_child.js'), '1'], { stdio: ['pipe', 'pipe', 'inherit'] });
        const rl = readline.createInterface({ input: child.stdout });
        rl.once('line', (line) => resolve({ child, port: Number(line) }));
        child.once('error', reject);
    });
}

/* CPU time (ms) of the JS thread and of every other thread of this process, from
 * /proc/self/task/<tid>/schedstat (Linux); null elsewhere. */
function threadTimes() {
    const fs = require('fs');
    try {
        let main = 0;
        let other = 0;
        for (const t of fs.readdirSync('/proc/self/task')) {
            let ns;
            try {
                ns = Number(fs.readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[0]);
            } catch (e) {
                continue; /* the thread ended */
            }
            if (Number(t) === process.pid) main += ns / 1e6;
            else other += ns / 1e6;
        }
        return { main, other };
    } catch (e) {
        return null;
    }
}

const body = { model: 'mock-model', stream: true, messages: [{ role: 'user', content: 'bench' }] };

async function measure(name, fn) {
    const best = { cpu: Infinity, wall: 0, n: 0, main: null };
    for (let r = 0; r < RUNS; r++) {
        if (global.gc) global.gc();
        const th0 = threadTimes();
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        const n = await fn();
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        const c = process.cpuUsage(c0);
        const th1 = threadTimes();
        const cpu = (c.user + c.system) / 1e6;
        if (n !== N) throw new Error(`${name}: got ${n} text chunks, expected ${N}`);
        /* Threads that ended during the run are missing from th1: the split is approximate. */
        const main = th0 && th1 ? (th1.main - th0.main) / 1e3 : null;
        if (cpu < best.cpu) Object.assign(best, { cpu, wall, n, main });
    }
    return {
        name,
        cpuSeconds: best.cpu,
        wallSeconds: best.wall,
        usPerChunk: (best.cpu / N) * 1e6,
        jsThreadUsPerChunk: best.main === null ? null : (best.main / N) * 1e6,
        chunksPerSec: N / best.wall,
    };
}

async function runSplit(port, split) {
    const base = `http://127.0.0.1:${port}/v1`;
    const url = `/chat/completions?chunks=${N}&split=${split}`;
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
            const stream = await openai.chat.completions.create(body, { query: { chunks: String(N), split } });
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
    for (const [name, fn] of Object.entries(contenders)) {
        if (ONLY && !ONLY.split(',').some((o) => name.includes(o))) continue;
        await fn(); /* warm-up run (JIT, connection) with the same size */
        rows.push(await measure(name, fn));
    }
    return rows;
}

async function main() {
    const { child, port } = await startMockChild();
    const results = {};
    try {
        for (const split of SPLITS) results[split] = await runSplit(port, split);
    } finally {
        child.stdin.end();
    }
    if (JSON_OUT) {
        console.log(JSON.stringify({ chunks: N, runs: RUNS, node: process.version, results }, null, 2));
        return;
    }
    console.log(`bulk: ${N} openai chunks over loopback, CPU of this process (all threads) per chunk, best of ${RUNS} runs, node ${process.version}`);
    const names = results[SPLITS[0]].map((r) => r.name);
    const head = SPLITS.map((s) => `split=${s}: µs/chunk (JS thread) | vs emitter`).join(' | ');
    console.log(`| consumer | ${head} |`);
    console.log('| --- |' + SPLITS.map(() => ' ---: | ---: |').join(''));
    for (const name of names) {
        const cells = SPLITS.map((s) => {
            const rows = results[s];
            const r = rows.find((x) => x.name === name);
            const ref = rows.find((x) => x.name === 'tokenwire emitter') || rows[0];
            const js = r.jsThreadUsPerChunk === null ? '' : ` (${r.jsThreadUsPerChunk.toFixed(2)})`;
            return `${r.usPerChunk.toFixed(2)}${js} | ${(r.usPerChunk / ref.usPerChunk).toFixed(1)}×`;
        });
        console.log(`| ${name} | ${cells.join(' | ')} |`);
    }
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
