'use strict';
// Shared request shapes for the Node peers (identical across peers).
const MODEL = 'bench-model';
const MESSAGES = [{ role: 'user', content: 'Tell me a long story.' }];
const BODIES = {
  openai: { model: MODEL, messages: MESSAGES, stream: true },
  anthropic: { model: MODEL, max_tokens: 1024, messages: MESSAGES, stream: true },
};
const PATHS = { openai: '/v1/chat/completions', anthropic: '/v1/messages' };

function qs(q) {
  const k = Object.keys(q);
  return k.length ? '?' + k.map((x) => `${x}=${q[x]}`).join('&') : '';
}

/** Time to the first text delta delivered to user code: [performance.now() at it, deltas]. */
async function firstViaVisit(peer, q) {
  let tf = null;
  const n = await peer.visit(q, () => { if (tf === null) tf = performance.now(); });
  return [tf, n];
}

// TLS and HTTP/2, set by peer.js from --ca / --http2 before a peer is built. fetch-based peers
// (fetch, openai-node, the AI SDK) trust the CA through NODE_EXTRA_CA_CERTS, which bench.py
// sets, as Node's docs say; undici peers pass it as `connect: { ca }`; tokenwire as `caFile`.
const tls = { ca: null, caFile: null, http2: false };

module.exports = { MODEL, MESSAGES, BODIES, PATHS, qs, firstViaVisit, tls };
