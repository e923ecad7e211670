"""The lean API handler (ollamaweb/gateway/handler.py)."""

import gc

import httpx

HI = [{"role": "user", "content": "hi"}]


def test_a_request_leaves_no_reference_cycles_behind(gateway, api_key):
    """Served requests are freed by reference counting: cycles (a finished task holding its
    exception, whose traceback holds the request) would leave their objects to the garbage
    collector, whose passes grow with the requests in flight."""
    body = {"model": "llama3", "messages": HI}
    headers = {"Authorization": f"Bearer {api_key[1]}"}
    with httpx.Client(base_url=gateway.url, headers=headers) as client:
        assert client.post("/v1/chat/completions", json=body).status_code == 200  # warm: caches, connections
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(20):
                assert client.post("/v1/chat/completions", json=body).status_code == 200
            gc.collect()
            left = [type(item).__qualname__ for item in gc.garbage]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert "ASGIRequest" not in left and "Task" not in left, sorted(set(left))
