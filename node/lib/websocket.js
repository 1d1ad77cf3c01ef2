'use strict';
/*
 * websocketRelay(): a Stream or merge() sent over a WebSocket (the `ws` package, or one with
 * its API), one text message per event, built by the core's encoder in its messages mode
 * (tw_encoder_opts.messages) -- the same messages and client protocol as Python's
 * tokenwire.websocket.websocket_relay:
 *   NDJSON framing (ndjson, ndjson templates): each line as it is (the app's own JSON);
 *   SSE framing (events, openai, ai-sdk, SSE templates): {"event","id","data"} (event and id
 *   only when set); text: each delta as it is. With eventIds the ids are inside.
 * From the client, JSON text messages: {"type":"cancel"} cancels the upstream (the format's
 * ending is still sent; reason 'cancelled'); {"type":"ping",...} is answered at once with
 * {"type":"pong",...} (the other keys kept); anything else is kept, in order, in
 * result.messages. A socket that closes mid-stream cancels the upstream and resolves with
 * reason 'disconnected'. Backpressure: past highWatermark bytes buffered on the socket the
 * relay stops taking batches (the engine's queue fills and pauses the upstream transfer) and
 * goes on once the socket flushed them: nothing is dropped.
 */
const { binding } = require('./binding');
const { checkFormat, eventIdsOption } = require('./relay');
const { makeEncoder } = require('./encoder');
const { Stream } = require('./stream');
const { MergedStream } = require('./merge');

const OPEN = 1;
const CONNECTING = 0;
const DEFAULT_HIGH_WATERMARK = 1 << 20;

function checkOptions(ws, source, opts) {
    if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
    if (!ws || typeof ws.send !== 'function' || typeof ws.on !== 'function')
        throw new TypeError('websocketRelay expects a `ws` WebSocket (send, on, bufferedAmount)');
    const merged = source instanceof MergedStream;
    if (!merged && !(source instanceof Stream))
        throw new TypeError('source must be a tokenwire Stream or merge()');
    if (merged ? source._consumer !== null : source._consumed())
        throw new TypeError('tokenwire: this stream is already being consumed');
    const hwm = opts.highWatermark === undefined ? DEFAULT_HIGH_WATERMARK : opts.highWatermark;
    if (!(typeof hwm === 'number' && hwm >= 0))
        throw new TypeError('highWatermark must be a number >= 0');
    const pingMs = opts.pingMs === undefined ? 0 : opts.pingMs;
    if (!(typeof pingMs === 'number' && pingMs >= 0))
        throw new TypeError('pingMs must be a number >= 0');
    return { merged, hwm, pingMs };
}

/* The client's message as the relay sees it: [kind, value], kind 'cancel' | 'ping' | null. */
function parseClient(data, isBinary) {
    if (isBinary) return [null, data];
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    let obj;
    try {
        obj = JSON.parse(text);
    } catch (e) {
        return [null, text];
    }
    const isObject = obj !== null && typeof obj === 'object' && !Array.isArray(obj);
    const kind = isObject ? obj.type : undefined;
    return [kind === 'cancel' || kind === 'ping' ? kind : null, obj];
}

/**
 * Relays source (a Stream or a merge(), not yet consumed) over ws. opts: format (default
 * 'events'; a built-in name or { template: spec }), id, model, eventIds, constants (as for
 * tw.Encoder), close (true: close the socket with 1000 after a relay that ended or was
 * cancelled; default false: it stays open for the app), pingMs (protocol ping every pingMs,
 * the socket terminated when the previous ping got no pong; 0 = off, the default),
 * highWatermark (bytes buffered on the socket before the relay pauses; default 1 MiB).
 * Argument errors throw here, before anything is sent. Resolves with { reason: 'end' |
 * 'cancelled' | 'disconnected', messages, streamId, firstEventSeq, nextEventSeq }; rejects
 * only when the source is aborted by the app's own AbortSignal.
 */
function websocketRelay(ws, source, opts = {}) {
    const { merged, hwm, pingMs } = checkOptions(ws, source, opts);
    const format = checkFormat(opts.format === undefined ? 'events' : opts.format);
    const ids = eventIdsOption(opts.eventIds);
    const enc = makeEncoder(format, opts, merged ? undefined : source._dialect, ids, true);
    source.streamId = ids ? ids.prefix : null;
    const result = {
        reason: 'end',
        messages: [],
        streamId: ids ? ids.prefix : null,
        firstEventSeq: ids ? ids.firstSeq : null,
        nextEventSeq: null,
    };
    return new Promise((resolve, reject) => {
        let running = true;
        let blocked = false; /* over the watermark: wait until the socket flushed */
        let cancelled = false;
        let alive = true;
        let timer = null;

        let sent = 0; /* batches sent */
        /* ws calls back once a batch's last frame (so every one before it) reached the
         * kernel: the latest batch's callback means the socket holds nothing more of ours;
         * an earlier one unblocks only if the socket is back under the watermark. */
        const flushed = (n) => {
            if (!blocked || (n !== sent && ws.bufferedAmount > hwm)) return;
            blocked = false;
            pump();
        };
        const sendBatch = (batch) => {
            if (!running || batch.length === 0) return;
            const last = batch.length - 1;
            /* One write for the batch's frames instead of a syscall per message (`ws` writes
             * each frame to its net.Socket, ws._socket; other sockets go frame by frame). */
            const sock = ws._socket && typeof ws._socket.cork === 'function' ? ws._socket : null;
            if (sock && last > 0) sock.cork();
            for (let i = 0; i < last; i++) ws.send(batch[i]);
            const n = ++sent;
            ws.send(batch[last], () => flushed(n));
            if (sock && last > 0) sock.uncork();
            if (ws.bufferedAmount > hwm) blocked = true;
        };
        const settle = (err) => {
            if (!running) return;
            running = false;
            if (timer) clearInterval(timer);
            ws.removeListener('message', onMessage);
            ws.removeListener('close', onClose);
            ws.removeListener('pong', onPong);
            ws.removeListener('open', start);
            result.nextEventSeq = ids ? binding.encoderNextEventSeq(enc) : null;
            if (err) return reject(err);
            if (opts.close === true && result.reason !== 'disconnected' && ws.readyState === OPEN)
                ws.close(1000);
            resolve(result);
        };
        const onClose = () => {
            if (!running) return;
            result.reason = 'disconnected';
            source.cancel(); /* nothing more is delivered; settles through the sink's close */
            settle(null);
        };
        const cancelUpstream = () => {
            if (cancelled) return;
            cancelled = true;
            result.reason = 'cancelled';
            const streams = merged ? source._entries.map(([, s]) => s) : [source];
            for (const s of streams) {
                if (s._done) continue;
                s._cancelled = true; /* its cancelled end is not an error */
                binding.cancelUpstream(s);
            }
            pump();
        };
        function onMessage(data, isBinary) {
            const [kind, value] = parseClient(data, isBinary);
            if (kind === 'cancel') cancelUpstream();
            else if (kind === 'ping') {
                if (running) ws.send(JSON.stringify({ ...value, type: 'pong' }));
            } else result.messages.push(value);
        }
        function onPong() {
            alive = true;
        }

        let pump;
        if (merged) {
            pump = () => {
                while (running && !blocked && !source._done && source._pullAll()) {}
            };
            source._consumer = 'bytes';
            source._bytesSink = {
                waiting: () => running && !blocked,
                finish() {
                    if (!source._cancelled) sendBatch(binding.encoderFinish(enc));
                    settle(null);
                },
            };
        } else {
            pump = () => {
                while (running && !blocked && !source._done && source._pull()) {}
            };
        }

        function start() {
            ws.on('message', onMessage);
            ws.on('close', onClose);
            if (pingMs > 0) {
                ws.on('pong', onPong);
                timer = setInterval(() => {
                    if (!alive) return ws.terminate(); /* the close event ends the relay */
                    alive = false;
                    ws.ping();
                }, pingMs);
            }
            if (merged) {
                source._entries.forEach(([name, s], i) => {
                    /* Each source's events go through the merge's framer into the shared
                     * encoder, in C (as merge().toReadableStream does). */
                    s._bytes = { waiting: () => false, enqueue: sendBatch, close() {}, error() {} };
                    s._onDone = (err) => source._childDone(name, s, err);
                    s._parentWants = () => source._wantsMore();
                    s._wantEvents = s._listensForEvents();
                    const f = source._framer;
                    const want = s._wantEvents;
                    if (!s._done) binding.setOutput(s, want, enc, name, false, f, i, false);
                    if (s._done) s._onDone(s._error);
                });
            } else {
                source._bytes = {
                    waiting: () => running && !blocked,
                    enqueue: sendBatch,
                    close: () => settle(null),
                    error: (reason) => settle(reason),
                };
                source._wantEvents = source._listensForEvents();
                if (source._done) return settle(source._rejection());
                binding.setOutput(source, source._wantEvents, enc, null, true);
            }
            pump();
        }

        if (ws.readyState === OPEN) start();
        else if (ws.readyState === CONNECTING) ws.once('open', start);
        else {
            result.reason = 'disconnected';
            source.cancel();
            settle(null);
        }
    });
}

module.exports = { websocketRelay };
