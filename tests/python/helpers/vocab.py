"""The vocabularies of issue 12 as template specs (tokenwire.Format), shared by the relay app
and the tests that check its bytes."""
import json

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

# The vocabularies of issue 12, compiled once at import.
SPECS = {
    # WebSocket-style agent updates, here as SSE events.
    "agent_update": {
        "constants": {"agent": "researcher"},
        "events": {
            "start": {"event": "agent_processing_started", "data": {"agent": "{constants.agent}"}},
            "text": {"event": "agent_processing_update",
                     "data": {"agent": "{constants.agent}", "chunk": "{text}",
                              "length": "{length}"}},
        },
        "finish": {"event": "agent_processing_complete",
                   "data": {"agent": "{constants.agent}", "text": "{text_so_far}"}},
    },
    # NDJSON lines in the app's own schema.
    "chat_ndjson": {
        "framing": "ndjson",
        "events": {"text": {"data": {"type": "chat", "content": "{text}", "streaming": True}}},
        "finish": {"data": {"type": "done", "usage": "{usage}"}},
    },
    # SSE answer_streaming, given as JSON text.
    "answer_streaming": json.dumps({
        "constants": {"agent": "a-7"},
        "events": {"text": {"event": "answer_streaming",
                            "data": {"token": "{text}", "partial_response": "{text_so_far}",
                                     "agent_id": "{constants.agent}"}}},
    }),
    # The multi-agent vocabulary, for merges ({source} names the agent).
    "multi_agent": {
        "events": {
            "agent_start": {"event": "agent_start", "data": {"agent": "{source}"}},
            "text": {"event": "agent_chunk", "data": {"agent": "{source}", "content": "{text}"}},
            "agent_complete": {"event": "agent_complete", "data": {"agent": "{source}"}},
        },
        "finish": {"event": "complete", "data": {"response": "{text_so_far}"}},
    },
}
# The WebSocket agent of issue 12: bare JSON messages with their own "type".
SPECS["ws_agent"] = {
    "framing": "ndjson",
    "constants": {"agent": "researcher"},
    "events": {
        "start": {"data": {"type": "agent_processing_started", "agent": "{constants.agent}"}},
        "text": {"data": {"type": "agent_processing_update", "agent": "{constants.agent}",
                          "chunk": "{text}", "length": "{length}"}},
        "error": {"data": {"type": "error", "kind": "{kind}", "message": "{text}"}},
    },
    "finish": {"data": {"type": "agent_processing_complete", "agent": "{constants.agent}",
                        "text": "{text_so_far}"}},
}
