'use strict';
/* Runs inside a worker thread for load.test.js. */
const { parentPort, workerData } = require('worker_threads');
const tw = require('../../node/index.js');

async function main() {
    const client = new tw.Client({ baseURL: workerData.url, maxRetries: 0 });
    const body = { model: 'm', stream: true, messages: [] };
    if (workerData.slow) {
        const streams = [];
        for (let i = 0; i < workerData.n; i++)
            streams.push(client.stream('/v1/chat/completions?chunks=100000&delay_ms=5', { json: body }));
        for (const s of streams) s.on('text', () => {});
        parentPort.postMessage('started');
        return;
    }
    const texts = await Promise.all(Array.from({ length: workerData.n }, async () => {
        let t = '';
        for await (const x of client.stream('/v1/chat/completions?chunks=15', { json: body }).text()) t += x;
        return t;
    }));
    parentPort.postMessage({ id: workerData.id, texts });
}
main().catch((e) => {
    throw e;
});
