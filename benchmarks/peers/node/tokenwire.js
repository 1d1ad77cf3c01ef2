'use strict';
// tokenwire's Node binding as its README shows it:
//   const client = new tw.Client({ baseURL, dialect }); const s = client.stream(path, { json });
// Variants: emitter (s.on('text') / s.on('end')), iter (`for await (const ev of s)`),
// text (`for await (const t of s.text())`).
// The package is loaded from the repository root (or $TOKENWIRE_NODE).
const path = require('path');
const fs = require('fs');
const { BODIES, PATHS, qs, firstViaVisit, tls } = require('./common');

const PKG = process.env.TOKENWIRE_NODE || path.join(__dirname, '..', '..', '..');
const tw = require(PKG);

const DISTS = [];
function version() {
  return JSON.parse(fs.readFileSync(path.join(PKG, 'package.json'), 'utf8')).version;
}

class Peer {
  constructor(base, dialect, conc, variant) {
    if (!['', 'emitter', 'iter', 'text'].includes(variant)) {
      throw new Error('unknown variant ' + variant);
    }
    this.variant = variant || 'emitter';
    const opts = { baseURL: base, dialect };
    if (tls.caFile) opts.caFile = tls.caFile;
    if (tls.http2) opts.http2 = true;
    this.client = new tw.Client(opts);
    this.path = PATHS[dialect];
    this.body = BODIES[dialect];
  }

  async run(q, fn) {
    const s = this.client.stream(this.path + qs(q), { json: this.body });
    let n = 0;
    if (this.variant === 'emitter') {
      await new Promise((resolve, reject) => {
        s.on('text', (t) => { n++; fn(t); });
        s.on('end', resolve);
        s.on('error', reject);
      });
    } else if (this.variant === 'iter') {
      for await (const ev of s) if (ev.type === 'text') { n++; fn(ev.text); }
    } else {
      for await (const t of s.text()) { n++; fn(t); }
    }
    return n;
  }

  visit(q, fn) { return this.run(q, fn); }

  first(q) { return firstViaVisit(this, q); }

  async close() { if (typeof this.client.close === 'function') await this.client.close(); }
}

module.exports = { Peer, DISTS, versionOf: version };
