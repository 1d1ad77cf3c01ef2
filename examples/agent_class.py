"""An agent class with token callbacks (issue 12, backend e): what a backend wraps around one
model call — on_token callbacks (plain functions or coroutines), the answer, usage, time to
first token, tokens per second, and cancellation from elsewhere (a "stop" button's request
handler) by the agent's id. The per-token work is the app's callback only: parsing, decoding
and the bookkeeping (usage, TTFT, rates) are tokenwire's core's.

    python agent_class.py     (needs UPSTREAM, e.g. http://127.0.0.1:8080/v1 for tokenwire mock)
"""
import asyncio
import dataclasses
import os
from typing import Any, Awaitable, Callable, Optional, Union

import tokenwire as tw

OnToken = Callable[[str], Union[None, Awaitable[None]]]


@dataclasses.dataclass
class AgentResult:
    text: str
    usage: Optional[dict]
    ttft: float               # seconds to the first token
    tokens_per_second: float
    finish_reason: Optional[str]
    cancelled: bool = False


class Agent:
    def __init__(self, name: str, client: tw.Client, model: str, system: str = "") -> None:
        self.name, self.client, self.model, self.system = name, client, model, system

    def _body(self, prompt: str) -> dict:
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": prompt})
        return {"model": self.model, "stream": True, "messages": messages,
                "stream_options": {"include_usage": True}}

    @staticmethod
    def _result(s: Any, cancelled: bool) -> AgentResult:
        m = s.metrics
        return AgentResult(text=s.text_content or "", usage=s.usage, ttft=m["ttft"],
                           tokens_per_second=m["tokens_per_second"],
                           finish_reason=s.finish_reason, cancelled=cancelled)

    async def run(self, prompt: str, on_token: Optional[OnToken] = None) -> AgentResult:
        """Streams one answer; on_token (sync or async) gets every text delta, in order."""
        s = self.client.stream("POST", "/chat/completions", json=self._body(prompt),
                               id=self.name, **({"on_text": on_token} if on_token else {}))
        try:
            await s.final()
        except tw.AbortError:
            return self._result(s, cancelled=True)
        return self._result(s, cancelled=False)

    def run_sync(self, prompt: str, on_token: Optional[Callable[[str], None]] = None) -> AgentResult:
        """The same from synchronous code (a worker thread, a CLI); the GIL is released while
        waiting."""
        s = self.client.stream_sync("POST", "/chat/completions", json=self._body(prompt),
                                    id=self.name, **({"on_text": on_token} if on_token else {}))
        try:
            s.final()
        except tw.AbortError:
            return self._result(s, cancelled=True)
        return self._result(s, cancelled=False)

    def cancel(self) -> int:
        """Stops this agent's running answer(s) from anywhere in the process."""
        return self.client.cancel(self.name)


async def _demo() -> None:
    client = tw.Client(base_url=os.environ.get("UPSTREAM", "https://api.openai.com/v1"),
                       api_key=os.environ.get("OPENAI_API_KEY", ""))
    writer = Agent("writer", client, os.environ.get("MODEL", "gpt-4o-mini"))

    async def show(token: str) -> None:
        print(token, end="", flush=True)

    r = await writer.run("Write a haiku about streams.", on_token=show)
    print("\n%d chars, usage %s, ttft %.3f s, %.0f tokens/s" %
          (len(r.text), r.usage, r.ttft, r.tokens_per_second))


if __name__ == "__main__":
    asyncio.run(_demo())
