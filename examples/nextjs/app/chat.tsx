'use client';

import { useState } from 'react';

/* A dependency-free reader of the UI message stream: SSE lines of JSON parts. */
async function* textDeltas(res: Response): AsyncGenerator<string> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      for (const line of frame.split('\n')) {
        if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
        const part = JSON.parse(line.slice(6));
        if (part.type === 'text-delta') yield part.delta;
        if (part.type === 'error') yield `\n[error: ${part.errorText}]`;
      }
    }
  }
}

export default function Chat() {
  const [prompt, setPrompt] = useState('Tell me a story');
  const [answer, setAnswer] = useState('');
  const [busy, setBusy] = useState(false);

  async function send(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setAnswer('');
    try {
      const res = await fetch('/api/chat', { method: 'POST', body: JSON.stringify({ prompt }) });
      for await (const t of textDeltas(res)) setAnswer((a) => a + t);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={send}>
      <input value={prompt} onChange={(e) => setPrompt(e.target.value)} style={{ width: '70%' }} />
      <button disabled={busy}>Send</button>
      <pre style={{ whiteSpace: 'pre-wrap' }}>{answer}</pre>
    </form>
  );
}
