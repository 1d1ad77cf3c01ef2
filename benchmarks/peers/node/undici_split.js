'use strict';
// The performance-minded Node reader: undici.request on an Agent, the body decoded with one
// streaming TextDecoder, split by hand on '\n', JSON.parse on each `data: ` line (no SSE
// library). TLS: undici's `connect: { ca }`; HTTP/2: `allowH2`.
const { Agent, request } = require('undici');
const { BODIES, PATHS, qs, firstViaVisit, tls } = require('./common');

const DISTS = ['undici'];

class Peer {
  constructor(base, dialect, conc, variant) {
    if (variant) throw new Error('unknown variant ' + variant);
    this.dialect = dialect;
    this.url = base + PATHS[dialect];
    this.body = JSON.stringify(BODIES[dialect]);
    this.agent = new Agent({ keepAliveTimeout: 60000, bodyTimeout: 0, headersTimeout: 0,
      connect: tls.ca ? { ca: tls.ca } : undefined, allowH2: tls.http2 });
  }

  async visit(q, fn) {
    let n = 0;
    const { statusCode, body } = await request(this.url + qs(q), { method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: this.body, dispatcher: this.agent });
    if (statusCode !== 200) { await body.dump(); throw new Error('HTTP ' + statusCode); }
    const openai = this.dialect === 'openai';
    const dec = new TextDecoder();
    let rest = '';
    for await (const chunk of body) {
      const lines = (rest + dec.decode(chunk, { stream: true })).split('\n');
      rest = lines.pop();
      for (const line of lines) {
        if (!line.startsWith('data: ')) continue;
        if (openai) {
          if (line === 'data: [DONE]') continue;
          const t = JSON.parse(line.slice(6)).choices[0]?.delta?.content;
          if (t) { n++; fn(t); }
        } else {
          const d = JSON.parse(line.slice(6));
          if (d.type === 'content_block_delta' && d.delta.type === 'text_delta') {
            n++; fn(d.delta.text);
          }
        }
      }
    }
    return n;
  }

  first(q) { return firstViaVisit(this, q); }

  async close() { await this.agent.close(); }
}

module.exports = { Peer, DISTS };
