'use strict';
/* One "instance" of the resume tests (resume.test.js, resume_browser.test.js): a node:http
 * server relaying the mock LLM (TW_MOCK_URL) teed to the Redis at TW_REDIS_URL. Prints
 * "listening <port>" once it accepts connections (the tests' readiness signal).
 *   GET  /chat?chunks=&delay_ms=&detach=&format=   a teed relay (detach: seconds)
 *   POST /start?chunks=&delay_ms=                   a detached generation nobody reads yet:
 *                                                   {"streamId"}
 *   GET  /resume, /events                           tw.resumeResponse (Last-Event-ID header,
 *                                                   else ?resume=)
 *   POST /stop/<id>                                 tee.requestStop
 *   GET  /notices                                   the tee's notices */
const http = require('http');
const { Readable, pipeline } = require('stream');
const tw = require('../../node/index.js');

const client = new tw.Client({ baseURL: process.env.TW_MOCK_URL + '/v1', maxRetries: 0 });
const tee = new tw.RedisTee({ url: process.env.TW_REDIS_URL, prefix: 'twnode:' });
const BODY = { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] };

function upstream(u) {
    const p = u.searchParams;
    const q = `chunks=${p.get('chunks') || 20}&delay_ms=${p.get('delay_ms') || 20}`;
    return client.stream('/chat/completions?' + q, { json: BODY });
}

function detachOpt(u) {
    const d = u.searchParams.get('detach');
    return d ? Number(d) : false;
}

const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname === '/chat') {
        const format = u.searchParams.get('format') || 'openai';
        const s = upstream(u);
        const rs = s.toReadableStream({ format, tee, detach: detachOpt(u), heartbeatMs: 0 });
        res.writeHead(200, tw.streamHeaders(format));
        pipeline(Readable.fromWeb(rs), res, () => {});
    } else if (u.pathname === '/start' && req.method === 'POST') {
        const s = upstream(u);
        const rs = s.toReadableStream({ tee, detach: 60 });
        rs.cancel(); /* nobody reads it here: it runs detached, readers resume it */
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ streamId: s.streamId }));
    } else if (u.pathname === '/resume' || u.pathname === '/events') {
        tw.resumeResponse(tee, req, { res, format: u.searchParams.get('format') || 'openai' })
            .catch((e) => {
                res.destroy(e);
            });
    } else if (u.pathname.startsWith('/stop/') && req.method === 'POST') {
        tee.requestStop(decodeURIComponent(u.pathname.slice(6)));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
    } else if (u.pathname === '/notices') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ notices: tee.notices, available: tee.available }));
    } else {
        res.writeHead(404);
        res.end();
    }
});
server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => {
    server.close();
    process.exit(0);
});
