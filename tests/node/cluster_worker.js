'use strict';
/* A cluster worker for cluster.test.js: a fresh process (cluster forks with exec), so a fresh
 * addon and engine. Streams through tokenwire against the primary's mock and reports the
 * texts over IPC. */
const tw = require('../../node/index.js');

async function main() {
    const client = new tw.Client({ baseURL: process.env.TW_MOCK_URL, maxRetries: 0 });
    const body = { model: 'm', stream: true, messages: [] };
    const n = Number(process.env.TW_STREAMS);
    const chunks = Number(process.env.TW_CHUNKS);
    const texts = await Promise.all(Array.from({ length: n }, async (_, i) => {
        const s = client.stream(`/v1/chat/completions?chunks=${chunks}&delay_ms=${i % 2}`, { json: body });
        if (i % 2 === 0) return s.fullText();
        let t = '';
        for await (const x of s.text()) t += x;
        return t;
    }));
    process.send({ pid: process.pid, texts, stats: tw.stats() }, () => process.disconnect());
}
main().catch((e) => {
    process.send({ pid: process.pid, error: String(e && e.stack) }, () => process.exit(1));
});
