'use strict';
// @anthropic-ai/sdk as its README shows it. Variants:
//   (default)  messages.create({stream: true}) and `for await (const event of stream)`
//   helper     messages.stream(...).on('text', ...) and `await stream.done()`
const Anthropic = require('@anthropic-ai/sdk');
const { MODEL, MESSAGES, firstViaVisit } = require('./common');

const DISTS = ['@anthropic-ai/sdk'];

class Peer {
  constructor(base, dialect, conc, variant) {
    if (dialect !== 'anthropic') {
      throw new Error('@anthropic-ai/sdk speaks the anthropic dialect only');
    }
    if (variant !== '' && variant !== 'helper') throw new Error('unknown variant ' + variant);
    this.helper = variant === 'helper';
    const Ctor = Anthropic.default || Anthropic;
    this.client = new Ctor({ baseURL: base, apiKey: 'bench', maxRetries: 0, timeout: 600000 });
  }

  params() { return { model: MODEL, max_tokens: 1024, messages: MESSAGES }; }

  async visit(q, fn) {
    let n = 0;
    if (this.helper) {
      const stream = this.client.messages.stream(this.params(), { query: q });
      stream.on('text', (t) => { n++; fn(t); });
      await stream.done();
      return n;
    }
    const stream = await this.client.messages.create(Object.assign(this.params(), { stream: true }),
      { query: q });
    for await (const ev of stream) {
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') {
        n++; fn(ev.delta.text);
      }
    }
    return n;
  }

  first(q) { return firstViaVisit(this, q); }

  async close() {}
}

module.exports = { Peer, DISTS };
