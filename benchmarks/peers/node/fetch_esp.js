'use strict';
// Node's built-in fetch + eventsource-parser's createParser (its README's usage: feed decoded
// text, get events in onEvent) + JSON.parse per event.
const { createParser } = require('eventsource-parser');
const { BODIES, PATHS, qs, firstViaVisit } = require('./common');

const DISTS = ['eventsource-parser'];

class Peer {
  constructor(base, dialect, conc, variant) {
    if (variant) throw new Error('unknown variant ' + variant);
    this.dialect = dialect;
    this.url = base + PATHS[dialect];
    this.body = JSON.stringify(BODIES[dialect]);
  }

  async run(q, fn) {
    let n = 0;
    const res = await fetch(this.url + qs(q), { method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: this.body });
    if (!res.ok) throw new Error('HTTP ' + res.status);
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
    for await (const chunk of res.body) parser.feed(dec.decode(chunk, { stream: true }));
    return n;
  }

  visit(q, fn) { return this.run(q, fn); }

  first(q) { return firstViaVisit(this, q); }

  async close() {}
}

module.exports = { Peer, DISTS };
