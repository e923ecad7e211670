"""Ollama's native inference API, checked and passed through (pure: no I/O, no settings).

The client already speaks the backends' language, so a request is validated only as far as the
gateway needs (a model name, the shape of the fields it reads) and every other field goes to the
backend untouched: options, format, think, tools, images, keep_alive, raw, template, context,
suffix, logprobs, truncate, shift, dimensions, and whatever later Ollama versions add.
Answers go back as the backend sent them, with `model` set to the name the client asked for
(an alias stays an alias). Messages follow Ollama's own wording where it has one.
"""

from ollamaweb.core.errors import InvalidRequest

CHAT = "/api/chat"
GENERATE = "/api/generate"
EMBED = "/api/embed"

MODEL_REQUIRED = "model is required"


def _body(body) -> dict:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return body


def _model(body: dict, *, legacy_name: bool = False) -> str:
    model = body.get("model")
    if legacy_name and not model:
        model = body.get("name")
    if model is None or model == "":
        raise InvalidRequest(MODEL_REQUIRED, param="model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("invalid model name", param="model")
    return model.strip()


def _stream(body: dict, default: bool = True) -> bool:
    stream = body.get("stream")
    if stream is None:
        return default
    if not isinstance(stream, bool):
        raise InvalidRequest("stream must be true or false", param="stream")
    return stream


def _check_object(body: dict, name: str):
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise InvalidRequest(f"{name} must be a JSON object", param=name)


def _check_images(images, param: str):
    if images is None:
        return
    if not isinstance(images, list) or not all(isinstance(image, str) for image in images):
        raise InvalidRequest("images must be an array of base64-encoded strings", param=param)


def _payload(body: dict, stream: bool | None) -> dict:
    """The body for the backend: everything but `model` (the pipeline sets the resolved one)."""
    payload = {name: value for name, value in body.items() if name not in ("model", "name")}
    if stream is not None:
        payload["stream"] = stream
    return payload


def chat_request(body) -> tuple[str, dict, bool]:
    """POST /api/chat → (requested model, native payload without model, stream)."""
    body = _body(body)
    model, stream = _model(body), _stream(body)
    _check_object(body, "options")
    messages = body.get("messages")
    if messages is not None:
        if not isinstance(messages, list):
            raise InvalidRequest("messages must be an array", param="messages")
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                raise InvalidRequest(f"messages[{index}] must be an object", param=f"messages[{index}]")
            role = message.get("role")
            if not isinstance(role, str) or not role:
                raise InvalidRequest(f"messages[{index}].role is required", param=f"messages[{index}].role")
            content = message.get("content")
            if content is not None and not isinstance(content, str):
                raise InvalidRequest(f"messages[{index}].content must be a string", param=f"messages[{index}].content")
            _check_images(message.get("images"), f"messages[{index}].images")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise InvalidRequest("tools must be an array", param="tools")
    return model, _payload(body, stream), stream


def generate_request(body) -> tuple[str, dict, bool]:
    """POST /api/generate → (requested model, native payload without model, stream)."""
    body = _body(body)
    model, stream = _model(body), _stream(body)
    _check_object(body, "options")
    for name in ("prompt", "suffix", "system", "template"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"{name} must be a string", param=name)
    context = body.get("context")
    if context is not None and (
        not isinstance(context, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in context)
    ):
        raise InvalidRequest("context must be an array of integers", param="context")
    _check_images(body.get("images"), "images")
    return model, _payload(body, stream), stream


def embed_request(body) -> tuple[str, dict]:
    """POST /api/embed → (requested model, native payload without model). Never streams."""
    body = _body(body)
    model = _model(body)
    _check_object(body, "options")
    value = body.get("input")
    if value is not None and not isinstance(value, str):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InvalidRequest("invalid input type", param="input")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 0):
        raise InvalidRequest("dimensions must be a positive integer", param="dimensions")
    return model, _payload(body, None)


def embeddings_request(body) -> tuple[str, dict]:
    """POST /api/embeddings (legacy: {model, prompt} → {embedding}) as an /api/embed payload.

    /api/embed reports prompt_eval_count (the legacy route reports no usage at all), so every
    call is metered exactly; its vectors are normalized to length 1 (the legacy route's are not:
    cosine similarity, what embeddings are used for, is the same).
    """
    body = _body(body)
    model = _model(body)
    _check_object(body, "options")
    prompt = body.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise InvalidRequest("prompt must be a string", param="prompt")
    payload = {"input": [prompt] if prompt else []}
    for name in ("options", "keep_alive", "truncate", "dimensions"):
        if body.get(name) is not None:
            payload[name] = body[name]
    return model, payload


def render(result: dict, model: str) -> dict:
    """A native answer for the client: as the backend sent it, with the requested model name."""
    if "model" in result:
        return {**result, "model": model}
    return result


def render_embeddings(result: dict) -> dict:
    """An /api/embed answer in the legacy /api/embeddings shape."""
    embeddings = result.get("embeddings") or []
    return {"embedding": embeddings[0] if embeddings else []}


def error_body(message: str, signin_url: str = "") -> dict:
    """Ollama's error shape, `{"error": "..."}`. `signin_url` is what the Ollama CLI prints after a
    401 ("navigate to: …"): the portal page where a user registers their Ollama key."""
    body = {"error": message}
    if signin_url:
        body["signin_url"] = signin_url
    return body


# -- discovery and model management ----------------------------------------------------------------


def show_request(body) -> tuple[str, dict]:
    """POST /api/show → (requested model, payload without model): `model` or the legacy `name`."""
    body = _body(body)
    model = _model(body, legacy_name=True)
    return model, _payload(body, None)


def progress_request(body) -> tuple[str, dict, bool]:
    """POST /api/pull, /api/push, /api/create → (model, payload without model, stream).

    `model` or the legacy `name`; progress streams by default, as in Ollama.
    """
    body = _body(body)
    model, stream = _model(body, legacy_name=True), _stream(body)
    return model, _payload(body, stream), stream


def copy_request(body) -> tuple[str, str]:
    """POST /api/copy → (source, destination)."""
    body = _body(body)
    names = []
    for field in ("source", "destination"):
        value = body.get(field)
        if not isinstance(value, str) or not value.strip():
            raise InvalidRequest(f'{field} "{value if isinstance(value, str) else ""}" is invalid', param=field)
        names.append(value.strip())
    return names[0], names[1]


def delete_request(body) -> str:
    """DELETE /api/delete → the model (`model` or the legacy `name`)."""
    return _model(_body(body), legacy_name=True)


def blob_digest(digest: str) -> str:
    """The `sha256:<64 hex digits>` of /api/blobs/:digest (400 otherwise, as Ollama)."""
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidRequest("invalid digest format", param="digest")
    return digest
