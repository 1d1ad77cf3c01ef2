'use strict';
/* A worker thread running a node:http server for drain.test.js. It holds every answer until
 * the test says 'go' (so the test decides when the bytes leave), reports 'listening' and then
 * 'ready' once workerData.n requests have arrived, and then answers them all at once. */
const http = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');

const held = [];
function chunk(content, finish) {
    return `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'm',
        choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish || null }] })}\n\n`;
}
const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
        held.push({ res, name: req.url.slice(1) });
        if (held.length === workerData.n) parentPort.postMessage({ type: 'ready' });
    });
});
parentPort.on('message', (m) => {
    if (m === 'go') {
        for (const { res, name } of held) {
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            let out = '';
            for (let i = 0; i < workerData.chunks; i++) out += chunk(`${name}:${i} `);
            res.end(out + chunk(null, 'stop') + 'data: [DONE]\n\n');
        }
    }
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ type: 'listening', port: server.address().port }));
