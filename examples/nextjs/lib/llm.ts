import { Client, type Dialect } from 'tokenwire';

/*
 * One tokenwire Client per server process: it shares the engine (one C I/O thread) and the
 * connection cache across requests. Point it at any OpenAI-compatible endpoint, Anthropic,
 * Gemini or Ollama with the environment variables below.
 */
export const client = new Client({
  baseURL: process.env.LLM_BASE_URL ?? 'http://127.0.0.1:8080/v1',
  apiKey: process.env.LLM_API_KEY,
  dialect: (process.env.LLM_DIALECT as Dialect | undefined) ?? 'openai',
  timeout: { connect: 10_000, idle: 120_000 },
});

export const chatPath = process.env.LLM_CHAT_PATH ?? '/chat/completions';
export const model = process.env.LLM_MODEL ?? 'gpt-4o-mini';

type Message = { role: string; content: string };

/** Reads the chat request body sent by the page (or by useChat's transport). */
export async function readMessages(req: Request): Promise<Message[]> {
  const input = (await req.json().catch(() => ({}))) as { messages?: unknown; prompt?: unknown };
  if (Array.isArray(input.messages)) {
    return input.messages.map((m: { role?: unknown; content?: unknown; parts?: unknown }) => ({
      role: String(m.role ?? 'user'),
      content:
        typeof m.content === 'string'
          ? m.content
          : Array.isArray(m.parts)
            ? m.parts.map((p: { text?: unknown }) => String(p.text ?? '')).join('')
            : '',
    }));
  }
  return [{ role: 'user', content: String(input.prompt ?? 'Hello') }];
}

/** Forwards the mock server's demo controls (chunks, delay_ms, ...) from the page's URL. */
export function upstreamQuery(req: Request): Record<string, string> {
  const q: Record<string, string> = {};
  for (const [k, v] of new URL(req.url).searchParams) if (k !== 'format') q[k] = v;
  return q;
}
