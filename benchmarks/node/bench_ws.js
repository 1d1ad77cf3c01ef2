'use strict';
/*
 * WebSocket relay in an app's own vocabulary: server CPU per relayed token. A node:http + `ws`
 * server (this process) relays S OpenAI streams of N chunks each from the built-in mock (its
 * own process) to S `ws` clients (another process), one message per event:
 *   tw relay (template)      tw.websocketRelay(ws, s, { format: { template: AGENT } })
 *   tw relay (ndjson)        the same with the built-in 'ndjson' format
 *   tw emitter + stringify   s.on('text', t => ws.send(JSON.stringify({...})))
 *   openai-node + stringify  for await (chunk of openai...create()) ws.send(JSON.stringify({...}))
 * CPU per token = this process's process.cpuUsage() (user + system, every thread: tokenwire's
 * I/O thread included) over the run / tokens relayed. The clients check the message count.
 *
 *   node benchmarks/node/bench_ws.js [--streams S] [--chunks N] [--runs R] [--only a,b] [--json]
 */
const { spawn } = require('child_process');
const http = require('http');
const path = require('path');
const readline = require('readline');

const args = process.argv.slice(2);
function opt(name, def) {
    const i = args.indexOf('--' + name);
    return i >= 0 ? args[i + 1] : def;
}

/* The app's vocabulary (one of the backends): started / update / complete. */
const AGENT = {
    framing: 'ndjson',
    constants: { agent: 'researcher' },
    events: {
        start: { data: { type: 'agent_processing_started', agent: '{constants.agent}' } },
        text: { data: { type: 'agent_processing_update', agent: '{constants.agent}',
            chunk: '{text}', length: '{length}' } },
    },
    finish: { data: { type: 'agent_processing_complete', agent: '{constants.agent}',
        text: '{text_so_far}' } },
};

/* ---- the client process: S sockets, each sends its prompt and counts messages ------------ */

async function clientMain(port, streams, path_, chunks) {
    const { WebSocket } = require('ws');
    let total = 0;
    await Promise.all(Array.from({ length: streams }, () => new Promise((resolve, reject) => {
        const c = new WebSocket(`ws://127.0.0.1:${port}`);
        c.on('open', () => c.send(JSON.stringify({ path: path_, chunks })));
        c.on('message', () => total++);
        c.on('close', resolve);
        c.on('error', reject);
    })));
    process.stdout.write(JSON.stringify({ messages: total }) + '\n');
}

if (args[0] === '--client') {
    clientMain(Number(args[1]), Number(args[2]), args[3], Number(args[4])).catch((e) => {
        console.error(e);
        process.exit(1);
    });
    return;
}

/* ---- the server (measured) ----------------------------------------------------------------- */

const tw = require('../../node/index.js');
const { WebSocketServer } = require('ws');

const STREAMS = Number(opt('streams', 20));
const N = Number(opt('chunks', 5000));
const RUNS = Number(opt('runs', 3));
const ONLY = opt('only', null);
const JSON_OUT = args.includes('--json');

function child(argv, stdin) {
    return new Promise((resolve, reject) => {
        const stdio = [stdin ? 'pipe' : 'ignore', 'pipe', 'inherit'];
        const p = spawn(process.execPath, argv, { stdio });
        const rl = readline.createInterface({ input: p.stdout });
        rl.once('line', (line) => resolve({ p, line }));
        p.once('error', reject);
    });
}

const body = { model: 'mock-model', stream: true, messages: [{ role: 'user', content: 'hi' }] };

function handlers(mockURL) {
    const client = new tw.Client({ baseURL: mockURL + '/v1', maxRetries: 0 });
    let openai = null;
    const stream = (chunks) =>
        client.stream('/chat/completions', { json: body, query: { chunks: String(chunks) } });
    return {
        'tw relay (template)': (ws, chunks) =>
            tw.websocketRelay(ws, stream(chunks), { format: { template: AGENT }, close: true }),
        'tw relay (ndjson)': (ws, chunks) =>
            tw.websocketRelay(ws, stream(chunks), { format: 'ndjson', close: true }),
        'tw emitter + stringify': (ws, chunks) => new Promise((resolve) => {
            const agent = 'researcher';
            const s = stream(chunks);
            let text = '';
            ws.send(JSON.stringify({ type: 'agent_processing_started', agent }));
            s.on('text', (t) => {
                text += t;
                ws.send(JSON.stringify({ type: 'agent_processing_update', agent, chunk: t,
                    length: text.length }));
            });
            s.on('end', () => {
                ws.send(JSON.stringify({ type: 'agent_processing_complete', agent, text }));
                ws.close(1000);
                resolve();
            });
        }),
        'openai-node + stringify': async (ws, chunks) => {
            if (!openai) {
                const { default: OpenAI } = await import('openai');
                openai = new OpenAI({ baseURL: mockURL + '/v1', apiKey: 'sk-test', maxRetries: 0 });
            }
            const agent = 'researcher';
            let text = '';
            ws.send(JSON.stringify({ type: 'agent_processing_started', agent }));
            const query = { chunks: String(chunks) };
            const s = await openai.chat.completions.create(body, { query });
            for await (const chunk of s) {
                const t = chunk.choices[0] && chunk.choices[0].delta.content;
                if (!t) continue;
                text += t;
                ws.send(JSON.stringify({ type: 'agent_processing_update', agent, chunk: t,
                    length: text.length }));
            }
            ws.send(JSON.stringify({ type: 'agent_processing_complete', agent, text }));
            ws.close(1000);
        },
    };
}

async function main() {
    const mock = await child([path.join(__dirname, 'mock_child.js'), '1'], true);
    const mockURL = `http://127.0.0.1:${Number(mock.line)}`;
    const paths = handlers(mockURL);
    const server = http.createServer();
    let pending = 0;
    let allDone = null;
    new WebSocketServer({ server }).on('connection', (ws) => {
        ws.once('message', async (data) => {
            const p = JSON.parse(data.toString());
            await paths[p.path](ws, p.chunks);
            if (--pending === 0) allDone();
        });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const port = server.address().port;
    const only = ONLY ? ONLY.split(',') : null;
    const names = Object.keys(paths).filter((n) => !only || only.some((o) => n.includes(o)));
    const results = {};
    for (const name of names) {
        const runs = [];
        for (let r = 0; r < RUNS; r++) {
            pending = STREAMS;
            const done = new Promise((res) => (allDone = res));
            const cpu0 = process.cpuUsage();
            const t0 = process.hrtime.bigint();
            const cl = child([__filename, '--client', String(port), String(STREAMS), name,
                String(N)]);
            await done;
            const cpu = process.cpuUsage(cpu0);
            const wall = Number(process.hrtime.bigint() - t0) / 1e6;
            const { messages } = JSON.parse((await cl).line);
            /* Per stream: start + N text + complete (the mock's N chunks are N text deltas);
             * ndjson also writes finish, usage and end. */
            const want = STREAMS * (N + (name.includes('ndjson') ? 4 : 2));
            if (messages !== want)
                throw new Error(`${name}: ${messages} messages, expected ${want}`);
            runs.push({ usPerToken: (cpu.user + cpu.system) / (STREAMS * N), wallMs: wall });
        }
        runs.sort((a, b) => a.usPerToken - b.usPerToken);
        results[name] = runs[Math.floor(runs.length / 2)];
        if (!JSON_OUT)
            console.log(`${name.padEnd(26)} ` +
                `${results[name].usPerToken.toFixed(2).padStart(7)} us CPU/token` +
                `  (${(STREAMS * N / results[name].wallMs).toFixed(0)}k tokens/s wall)`);
    }
    if (JSON_OUT) console.log(JSON.stringify({ streams: STREAMS, chunks: N, runs: RUNS, results }));
    mock.p.stdin.end();
    server.close();
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
