'use strict';
// The Vercel AI SDK's own client, as its docs show it: streamText({ model: openai.chat(id) })
// with a provider from createOpenAI({ baseURL, apiKey }), reading result.textStream. The mock's
// controls go as X-Mock-* headers (streamText's `headers`). TLS: global fetch trusts
// NODE_EXTRA_CA_CERTS (set by bench.py), as Node's docs say.
const { streamText } = require('ai');
const { createOpenAI } = require('@ai-sdk/openai');
const { MODEL, MESSAGES, firstViaVisit } = require('./common');

const DISTS = ['ai', '@ai-sdk/openai'];

class Peer {
  constructor(base, dialect, conc, variant) {
    if (dialect !== 'openai') throw new Error('the AI SDK peer runs the openai dialect');
    if (variant) throw new Error('unknown variant ' + variant);
    this.model = createOpenAI({ baseURL: base + '/v1', apiKey: 'bench' }).chat(MODEL);
  }

  async visit(q, fn) {
    let n = 0;
    let failure = null;
    const headers = {};
    for (const k of Object.keys(q)) headers['X-Mock-' + k.replace(/_/g, '-')] = String(q[k]);
    const result = streamText({ model: this.model, messages: MESSAGES, maxRetries: 0, headers,
      onError: ({ error }) => { failure = error; } });
    for await (const t of result.textStream) {
      if (t) { n++; fn(t); }
    }
    if (failure) throw failure;
    return n;
  }

  first(q) { return firstViaVisit(this, q); }

  async close() {}
}

module.exports = { Peer, DISTS };
