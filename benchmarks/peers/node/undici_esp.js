'use strict';
// undici.request (its README's fastest API) on an Agent + eventsource-parser's createParser +
// JSON.parse per event.
const { Agent, request } = require('undici');
const { createParser } = require('eventsource-parser');
const { BODIES, PATHS, qs, firstViaVisit, tls } = require('./common');

const DISTS = ['undici', 'eventsource-parser'];

class Peer {
  constructor(base, dialect, conc, variant) {
    if (variant) throw new Error('unknown variant ' + variant);
    this.dialect = dialect;
    this.url = base + PATHS[dialect];
    this.body = JSON.stringify(BODIES[dialect]);
    // TLS: undici's documented `connect: { ca }`; HTTP/2: its `allowH2`.
    this.agent = new Agent({ keepAliveTimeout: 60000, bodyTimeout: 0, headersTimeout: 0,
      connect: tls.ca ? { ca: tls.ca } : undefined, allowH2: tls.http2 });
  }

  async run(q, fn) {
    let n = 0;
    const { statusCode, body } = await request(this.url + qs(q), { method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: this.body, dispatcher: this.agent });
    if (statusCode !== 200) { await body.dump(); throw new Error('HTTP ' + statusCode); }
    const onEvent = this.dialect === 'openai'
      ? (ev) => {
        if (ev.data === '[DONE]') return;
        const t = JSON.parse(ev.data).choices[0]?.delta?.content;
        if (t) { n++; fn(t); }
      }
      : (ev) => {
        if (ev.event === 'content_block_delta') {
          const d = JSON.parse(ev.data).delta;
          if (d.type === 'text_delta') { n++; fn(d.text); }
        }
      };
    const parser = createParser({ onEvent });
    const dec = new TextDecoder();
    for await (const chunk of body) parser.feed(dec.decode(chunk, { stream: true }));
    return n;
  }

  visit(q, fn) { return this.run(q, fn); }

  first(q) { return firstViaVisit(this, q); }

  async close() { await this.agent.close(); }
}

module.exports = { Peer, DISTS };
