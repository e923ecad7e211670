"""`GET /` and `HEAD /` as Ollama answers them, "Ollama is running", without colliding with the portal.

Ollama clients probe the root before anything else (the CLI's heartbeat is `HEAD /`, sent with
`Accept: application/json`), while people open the portal at `/` in a browser, which always asks for
`text/html`. So a HEAD request, or a GET whose Accept header does not mention text/html, gets
Ollama's plain-text answer; a browser gets the portal. The answer needs no key (Ollama's does not),
tells nothing but that the server is up, and writes no request-log row.
"""

BODY = b"Ollama is running"


def is_probe(scope) -> bool:
    if scope.get("path") != "/":
        return False
    method = scope.get("method")
    if method == "HEAD":
        return True
    if method != "GET":
        return False
    accept = b",".join(value for name, value in scope.get("headers", ()) if name == b"accept").lower()
    return b"text/html" not in accept


async def answer(scope, receive, send):
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else BODY})
