"""A webhook sink: the local stand-in for Slack, Teams and e-mail.

Paved's notification blocks point at it in the local stack and in tests; it records every
message it receives so a developer (`paved notifications`) or a test can read them.

    POST   /hooks/{recipient}         record a message (JSON or text body)
    GET    /_sink/messages?to=HANDLE  the messages received, oldest first
    DELETE /_sink/messages            forget them all (and pending faults)
    POST   /_sink/faults              {"status": 503, "times": 2}: the next hooks fail so
                                      (tests see retries)
    GET    /_sink/health              200 when serving
"""

from sandbox.webhook_sink.server import Message, SinkServer, serve_in_thread

__all__ = ["Message", "SinkServer", "serve_in_thread"]
