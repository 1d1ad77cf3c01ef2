'use strict';
// openai-node as its README shows it: client.chat.completions.create({stream: true}) and
// `for await (const chunk of stream)`, reading chunk.choices[0]?.delta?.content.
const OpenAI = require('openai');
const { MODEL, MESSAGES, firstViaVisit } = require('./common');

const DISTS = ['openai'];

class Peer {
  constructor(base, dialect, conc, variant) {
    if (dialect !== 'openai') throw new Error('openai-node speaks the openai dialect only');
    if (variant) throw new Error('unknown variant ' + variant);
    this.client = new OpenAI({ baseURL: base + '/v1', apiKey: 'bench', maxRetries: 0,
      timeout: 600000 });
  }

  async visit(q, fn) {
    let n = 0;
    const stream = await this.client.chat.completions.create(
      { model: MODEL, messages: MESSAGES, stream: true }, { query: q });
    for await (const chunk of stream) {
      const t = chunk.choices[0]?.delta?.content;
      if (t) { n++; fn(t); }
    }
    return n;
  }

  first(q) { return firstViaVisit(this, q); }

  async close() {}
}

module.exports = { Peer, DISTS };
