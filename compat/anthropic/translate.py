"""Anthropic Messages API ⇄ Ollama /api/chat (pure: no I/O, no database, no settings).

- `parse_messages_request` turns a `POST /v1/messages` body into a native /api/chat body;
- `parse_count_tokens_request` does the same for `POST /v1/messages/count_tokens` (a 1-token
  generation whose `prompt_eval_count` is the exact prompt size; see `count_tokens_body`);
- `render_message` turns a native non-stream result into an Anthropic Message;
- `MessagesStream` turns native NDJSON chunks into Anthropic's server-sent events.

Images given as URLs become `RemoteImage` objects in the native messages' `images` (tool results
included), which the pipeline fetches and inlines (ollamaweb/gateway/images.py) before the call.
"""

import binascii
import secrets
from dataclasses import dataclass

import orjson

from ollamaweb.core.errors import InvalidRequest
from ollamaweb.gateway.images import RemoteImage

# Joins text blocks of one message (and of `system`). Anthropic concatenates blocks; a blank line
# keeps Claude Code's separate reminder blocks apart for a local model.
BLOCK_SEPARATOR = "\n\n"
# `output_config.effort` → Ollama `think` levels (when `thinking` does not decide).
EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "max"}
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# Block types a client may send back that have no meaning for an Ollama model: skipped.
SKIPPED_BLOCKS = frozenset(
    {"redacted_thinking", "server_tool_use", "web_search_tool_result", "web_fetch_tool_result", "container_upload"}
)
# Tokens counted for an image by the estimate (the backend's count is exact).
IMAGE_TOKEN_ESTIMATE = 800


@dataclass
class MessagesRequest:
    model: str
    native: dict  # the /api/chat body, without "model"
    stream: bool = False
    client_user: str = ""


# --- requests -------------------------------------------------------------------------------


def parse_messages_request(body) -> MessagesRequest:
    """Validate a Messages request and build the native /api/chat body (without `model`)."""
    body = _object(body, "body")
    model = _model(body)
    max_tokens = _int(body, "max_tokens", minimum=1, required=True)
    stream = _bool(body, "stream", False)
    native = _native_chat(body)
    native["stream"] = stream
    native["options"] = {**_sampling_options(body), "num_predict": max_tokens}
    return MessagesRequest(model=model, native=native, stream=stream, client_user=_client_user(body))


def parse_count_tokens_request(body) -> MessagesRequest:
    """`POST /v1/messages/count_tokens`: the same conversation as a Messages request, no max_tokens."""
    body = _object(body, "body")
    model = _model(body)
    native = _native_chat(body)
    return MessagesRequest(model=model, native=native)


def count_tokens_body(native: dict) -> dict:
    """The backend call that measures a prompt: generate one token, read `prompt_eval_count`.

    The prompt goes through the model's own template and tokenizer (tools and images included),
    so the count is exact for that backend; the one generated token is discarded. (A prompt longer
    than the model's context window is counted as far as the backend evaluated it.)
    """
    return {**native, "stream": False, "options": {"num_predict": 1}}


def count_tokens_result(result: dict | None, native: dict) -> dict:
    """`{"input_tokens": N}` from the backend's count, or the estimate when it reported none.

    Never 0: Claude Code turns auto-compaction off when count_tokens answers 0.
    """
    measured = int((result or {}).get("prompt_eval_count") or 0)
    return {"input_tokens": measured if measured > 0 else estimate_input_tokens(native)}


def estimate_input_tokens(native: dict) -> int:
    """About 4 characters a token over everything the prompt carries (at least 1)."""
    characters = 0
    images = 0
    for message in native.get("messages") or ():
        characters += 16 + len(message.get("content") or "") + len(message.get("thinking") or "")
        for call in message.get("tool_calls") or ():
            characters += len(orjson.dumps(call.get("function") or {}))
        images += len(message.get("images") or ())
    if native.get("tools"):
        characters += len(orjson.dumps(native["tools"]))
    return max(1, (characters + 3) // 4 + images * IMAGE_TOKEN_ESTIMATE)


def _native_chat(body: dict) -> dict:
    """What Messages and count_tokens share: messages, system, tools, tool_choice, thinking, format."""
    messages = _system(body.get("system")) + _messages(body.get("messages"))
    native = {"messages": messages}
    tools = _tools(body.get("tools"), body.get("tool_choice"))
    if tools:
        native["tools"] = tools
    think = _think(body.get("thinking"), body.get("output_config"))
    if think is not None:
        native["think"] = think
    output_format = _output_format(body.get("output_config"))
    if output_format is not None:
        native["format"] = output_format
    return native


def _model(body: dict) -> str:
    model = body.get("model")
    if model is None:
        raise InvalidRequest("model: Field required", param="model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: Input should be a non-empty string", param="model")
    return model


def _client_user(body: dict) -> str:
    metadata = body.get("metadata")
    if metadata is None:
        return ""
    metadata = _object(metadata, "metadata")
    user_id = metadata.get("user_id")
    if user_id is None:
        return ""
    if not isinstance(user_id, str):
        raise InvalidRequest("metadata.user_id: Input should be a valid string", param="metadata.user_id")
    return user_id


def _sampling_options(body: dict) -> dict:
    options = {}
    for name, maximum in (("temperature", 1), ("top_p", 1)):
        value = _number(body, name, minimum=0, maximum=maximum)
        if value is not None:
            options[name] = value
    top_k = _int(body, "top_k", minimum=0)
    if top_k is not None:
        options["top_k"] = top_k
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(item, str) for item in stop):
            raise InvalidRequest("stop_sequences: Input should be a valid list of strings", param="stop_sequences")
        if stop:
            options["stop"] = list(stop)
    return options


def _system(system) -> list[dict]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    if not isinstance(system, list):
        raise InvalidRequest("system: Input should be a valid string or a list of text blocks", param="system")
    texts = []
    for i, block in enumerate(system):
        param = f"system.{i}"
        block = _object(block, param)
        if block.get("type") != "text":
            raise InvalidRequest(f"{param}.type: Input should be 'text'", param=f"{param}.type")
        texts.append(_text(block, param))
    text = BLOCK_SEPARATOR.join(t for t in texts if t)
    return [{"role": "system", "content": text}] if text else []


def _messages(messages) -> list[dict]:
    if messages is None:
        raise InvalidRequest("messages: Field required", param="messages")
    if not isinstance(messages, list):
        raise InvalidRequest("messages: Input should be a valid list", param="messages")
    if not messages:
        raise InvalidRequest("messages: at least one message is required", param="messages")
    tool_names: dict[str, str] = {}
    native = []
    for i, message in enumerate(messages):
        native.extend(_message(message, f"messages.{i}", tool_names))
    return native


def _message(message, param: str, tool_names: dict[str, str]) -> list[dict]:
    """One Anthropic message → native messages: the turn's tool results first (as `tool`
    messages, in order), then one message with its text, images, thinking and tool calls."""
    message = _object(message, param)
    role = message.get("role")
    if role not in ("user", "assistant", "system"):
        raise InvalidRequest(f"{param}.role: Input should be 'user' or 'assistant'", param=f"{param}.role")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(
            f"{param}.content: Input should be a valid string or a list of content blocks", param=f"{param}.content"
        )
    texts, images, thinking, calls, results = [], [], [], [], []
    for i, block in enumerate(content):
        block_param = f"{param}.content.{i}"
        block = _object(block, block_param)
        kind = block.get("type")
        if _read_media(block, block_param, texts, images):
            continue
        if kind == "thinking" and role == "assistant":
            value = block.get("thinking")
            if not isinstance(value, str):
                raise InvalidRequest(
                    f"{block_param}.thinking: Input should be a valid string", param=f"{block_param}.thinking"
                )
            thinking.append(value)
        elif kind == "tool_use" and role == "assistant":
            calls.append(_tool_use(block, block_param, len(calls), tool_names))
        elif kind == "tool_result" and role == "user":
            results.append(_tool_result(block, block_param, tool_names))
        elif kind in SKIPPED_BLOCKS or (kind == "thinking" and role != "assistant"):
            continue
        elif kind in ("tool_use", "tool_result"):
            raise InvalidRequest(
                f"{block_param}: '{kind}' blocks are not allowed in a {role} message", param=f"{block_param}.type"
            )
        else:
            raise InvalidRequest(
                f"{block_param}.type: unsupported content block type {kind!r}; expected text, image, document, "
                "tool_use, tool_result or thinking",
                param=f"{block_param}.type",
            )
    native = results
    text = BLOCK_SEPARATOR.join(t for t in texts if t)
    if text or images or thinking or calls or not results:
        out = {"role": role, "content": text}
        if images:
            out["images"] = images
        if thinking:
            out["thinking"] = "".join(thinking)
        if calls:
            out["tool_calls"] = calls
        native = [*results, out]
    return native


def _read_media(block: dict, param: str, texts: list, images: list) -> bool:
    """Add a text, image or document block (in a message or a tool result) to `texts` or `images`;
    False, adding nothing, for a block of another type."""
    kind = block.get("type")
    if kind == "text":
        texts.append(_text(block, param))
    elif kind == "image":
        images.append(_image(block, param))
    elif kind == "document":
        texts.append(_document(block, param))
    else:
        return False
    return True


def _text(block: dict, param: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"{param}.text: Input should be a valid string", param=f"{param}.text")
    return text


def _image(block: dict, param: str):
    source = _object(block.get("source"), f"{param}.source")
    kind = source.get("type")
    if kind == "base64":
        media_type = source.get("media_type")
        if media_type not in IMAGE_MEDIA_TYPES:
            raise InvalidRequest(
                f"{param}.source.media_type: Input should be {', '.join(repr(t) for t in IMAGE_MEDIA_TYPES)}",
                param=f"{param}.source.media_type",
            )
        return _base64(source.get("data"), f"{param}.source.data")
    if kind == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidRequest(f"{param}.source.url: Input should be an http(s) URL", param=f"{param}.source.url")
        return RemoteImage(url, f"{param}.source.url")
    raise InvalidRequest(
        f"{param}.source.type: Input should be 'base64' or 'url' (files are not supported)",
        param=f"{param}.source.type",
    )


def _base64(data, param: str) -> str:
    if not isinstance(data, str):
        raise InvalidRequest(f"{param}: Input should be a valid string", param=param)
    data = "".join(data.split())
    if data.startswith("data:"):  # a data URL where raw base64 belongs: take its payload
        data = data.partition(",")[2]
    try:
        if not data:
            raise ValueError
        binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"{param}: invalid base64 data", param=param) from None
    return data


def _document(block: dict, param: str) -> str:
    """Plain-text documents become text; other documents (PDF) a note the model can see."""
    source = _object(block.get("source"), f"{param}.source")
    title = block.get("title") if isinstance(block.get("title"), str) else ""
    kind = source.get("type")
    if kind == "text" and isinstance(source.get("data"), str):
        text = source["data"]
    elif kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            text = inner
        elif isinstance(inner, list):
            text = BLOCK_SEPARATOR.join(
                _text(part, f"{param}.source.content.{i}")
                for i, part in enumerate(inner)
                if isinstance(part, dict) and part.get("type") == "text"
            )
        else:
            raise InvalidRequest(f"{param}.source.content: Input should be a list", param=f"{param}.source.content")
    else:
        text = f"[A {source.get('media_type') or kind} document was attached here; this model cannot read it.]"
    return f"{title}\n{text}" if title else text


def _tool_use(block: dict, param: str, position: int, tool_names: dict[str, str]) -> dict:
    call_id, name = block.get("id"), block.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{param}.id: Field required", param=f"{param}.id")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{param}.name: Field required", param=f"{param}.name")
    arguments = block.get("input", {})
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidRequest(f"{param}.input: Input should be a valid dictionary", param=f"{param}.input")
    tool_names[call_id] = name
    return {"id": call_id, "function": {"index": position, "name": name, "arguments": arguments}}


def _tool_result(block: dict, param: str, tool_names: dict[str, str]) -> dict:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequest(f"{param}.tool_use_id: Field required", param=f"{param}.tool_use_id")
    content = block.get("content", "")
    images = []
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            part_param = f"{param}.content.{i}"
            part = _object(part, part_param)
            if not _read_media(part, part_param, texts, images):
                # other result blocks (search results, tool references): the model reads their JSON
                texts.append(orjson.dumps(part).decode())
        text = BLOCK_SEPARATOR.join(t for t in texts if t)
    else:
        raise InvalidRequest(
            f"{param}.content: Input should be a valid string or a list of blocks", param=f"{param}.content"
        )
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise InvalidRequest(f"{param}.is_error: Input should be a valid boolean", param=f"{param}.is_error")
    if is_error:  # Ollama has no field for it: tell the model in the text
        text = f"Error: {text}" if text else "Error"
    out = {"role": "tool", "content": text, "tool_call_id": call_id}
    if call_id in tool_names:
        out["tool_name"] = tool_names[call_id]
    if images:
        out["images"] = images
    return out


def _tools(tools, tool_choice) -> list[dict]:
    if tools is None:
        tools = []
    if not isinstance(tools, list):
        raise InvalidRequest("tools: Input should be a valid list", param="tools")
    converted = []
    for i, tool in enumerate(tools):
        tool = _object(tool, f"tools.{i}")
        if tool.get("type") not in (None, "custom"):
            continue  # Anthropic-hosted or Anthropic-defined tools (web_search_…, bash_…): not ours to run
        converted.append(_tool(tool, f"tools.{i}"))
    choice = _object(tool_choice, "tool_choice") if tool_choice is not None else {"type": "auto"}
    kind = choice.get("type")
    if kind in ("auto", "any"):
        return converted  # "any" cannot be enforced on Ollama: the tools are offered, the model decides
    if kind == "none":
        return []
    if kind == "tool":
        name = choice.get("name")
        chosen = [tool for tool in converted if tool["function"]["name"] == name]
        if not chosen:
            raise InvalidRequest(f"tool_choice.name: no tool named {name!r} in 'tools'", param="tool_choice.name")
        return chosen
    raise InvalidRequest("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'", param="tool_choice.type")


def _tool(tool: dict, param: str) -> dict:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{param}.name: Field required", param=f"{param}.name")
    schema = tool.get("input_schema")
    if schema is None:
        raise InvalidRequest(f"{param}.input_schema: Field required", param=f"{param}.input_schema")
    if not isinstance(schema, dict):
        raise InvalidRequest(f"{param}.input_schema: Input should be a valid dictionary", param=f"{param}.input_schema")
    function = {"name": name}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    function["parameters"] = schema
    return {"type": "function", "function": function}


def _think(thinking, output_config):
    """`thinking` (enabled/adaptive → on, disabled → off; `budget_tokens` has no Ollama
    equivalent), else `output_config.effort` as a level; None leaves the model's default."""
    if thinking is not None:
        thinking = _object(thinking, "thinking")
        kind = thinking.get("type")
        if kind == "enabled":
            _int(thinking, "budget_tokens", minimum=1, required=True, param="thinking.budget_tokens")
            return True
        if kind == "adaptive":
            return True
        if kind == "disabled":
            return False
        raise InvalidRequest(
            "thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'", param="thinking.type"
        )
    if output_config is not None:
        effort = _object(output_config, "output_config").get("effort")
        if effort is not None:
            if effort not in EFFORT:
                raise InvalidRequest(
                    f"output_config.effort: Input should be {', '.join(repr(e) for e in EFFORT)}",
                    param="output_config.effort",
                )
            return EFFORT[effort]
    return None


def _output_format(output_config):
    if output_config is None:
        return None
    output_format = _object(output_config, "output_config").get("format")
    if output_format is None:
        return None
    output_format = _object(output_format, "output_config.format")
    schema = output_format.get("schema")
    if output_format.get("type") != "json_schema" or not isinstance(schema, dict):
        raise InvalidRequest(
            'output_config.format: expected {"type": "json_schema", "schema": {...}}',
            param="output_config.format",
        )
    return schema


# --- field helpers (messages in the style of Anthropic's validation errors) ------------------


def _object(value, param: str) -> dict:
    if not isinstance(value, dict):
        what = "The request body" if param == "body" else param
        raise InvalidRequest(
            f"{what}: Input should be a valid dictionary or object", param=None if param == "body" else param
        )
    return value


def _bool(body: dict, name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(f"{name}: Input should be a valid boolean", param=name)
    return value


def _int(body: dict, name: str, *, minimum=None, required=False, param=None):
    param = param or name
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"{param}: Field required", param=param)
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{param}: Input should be a valid integer", param=param)
    if minimum is not None and value < minimum:
        raise InvalidRequest(f"{param}: Input should be greater than or equal to {minimum}", param=param)
    return value


def _number(body: dict, name: str, *, minimum, maximum):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidRequest(f"{name}: Input should be a valid number", param=name)
    if not minimum <= value <= maximum:
        raise InvalidRequest(f"{name}: Input should be between {minimum} and {maximum}", param=name)
    return value


# --- responses ------------------------------------------------------------------------------


def new_id(prefix: str, length: int = 24) -> str:
    """`prefix` + `length` random letters and digits, like Anthropic's `msg_01XF…` and `toolu_01A…` ids."""
    text = ""
    while len(text) < length:
        text += secrets.token_urlsafe(length).replace("-", "").replace("_", "")
    return prefix + text[:length]


def new_message_id() -> str:
    return new_id("msg_")


def new_tool_use_id() -> str:
    return new_id("toolu_")


def stop_reason(done_reason, had_tool_calls: bool) -> str:
    """Ollama's `done_reason` → Anthropic's `stop_reason`.

    Ollama reports a hit stop sequence as a plain "stop", without saying which (nor that it was
    one), so that reads `end_turn` with `stop_sequence: null`, as on Ollama's own /v1/messages.
    """
    if had_tool_calls:
        return "tool_use"
    if done_reason == "length":
        return "max_tokens"
    return "end_turn"


def tool_use_block(native_call: dict) -> dict:
    function = native_call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = orjson.loads(arguments or "{}")
        except orjson.JSONDecodeError:
            arguments = {"arguments": arguments}
    if not isinstance(arguments, dict):
        arguments = {}
    return {"type": "tool_use", "id": new_tool_use_id(), "name": function.get("name") or "", "input": arguments}


def usage_body(input_tokens: int, output_tokens: int) -> dict:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def render_message(native: dict, model: str, message_id: str | None = None) -> dict:
    """An Anthropic Message from a native non-stream /api/chat result (`model` as the client asked)."""
    message = native.get("message") or {}
    content = []
    if message.get("thinking"):
        content.append({"type": "thinking", "thinking": message["thinking"], "signature": ""})
    if message.get("content"):
        content.append({"type": "text", "text": message["content"]})
    calls = message.get("tool_calls") or []
    content.extend(tool_use_block(call) for call in calls)
    return {
        "id": message_id or new_message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(native.get("done_reason"), bool(calls)),
        "stop_sequence": None,
        "usage": usage_body(int(native.get("prompt_eval_count") or 0), int(native.get("eval_count") or 0)),
    }


# --- streaming ------------------------------------------------------------------------------


def sse(name: str, payload: dict) -> bytes:
    """One event as Anthropic frames them: the SDKs dispatch on the `event:` line."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class MessagesStream:
    """Native /api/chat NDJSON chunks → Anthropic's event sequence:

    message_start, then per block content_block_start / content_block_delta… / content_block_stop
    (thinking blocks, text blocks and one tool_use block per tool call, in the order the model
    produced them; a `ping` after the first block starts), then message_delta with the stop reason
    and the exact usage, then message_stop.
    """

    media_type = "text/event-stream"

    def __init__(self, model: str, message_id: str | None = None, input_estimate: int = 0):
        self.model = model
        self.message_id = message_id or new_message_id()
        self.input_estimate = input_estimate
        self.started = False
        self.pinged = False
        self.block: str | None = None  # type of the open block
        self.index = -1  # index of the last block started
        self.tool_calls = 0
        self.done_reason = None

    def feed(self, index: int, chunk: dict) -> bytes:
        out = [self._start()]
        message = chunk.get("message") or {}
        if message.get("thinking"):
            out.append(self._delta("thinking", {"type": "thinking_delta", "thinking": message["thinking"]}))
        if message.get("content"):
            out.append(self._delta("text", {"type": "text_delta", "text": message["content"]}))
        for call in message.get("tool_calls") or ():
            out.append(self._tool_use(call))
        if chunk.get("done"):
            self.done_reason = chunk.get("done_reason")
        return b"".join(out)

    def end(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        out = [self._start(), self._close()]
        if not self.pinged:
            out.append(self._ping())
        out.append(
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason(self.done_reason, self.tool_calls > 0), "stop_sequence": None},
                    "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
                },
            )
        )
        out.append(sse("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def _start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        message = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_body(self.input_estimate, 0),
        }
        return sse("message_start", {"type": "message_start", "message": message})

    def _ping(self) -> bytes:
        self.pinged = True
        return sse("ping", {"type": "ping"})

    def _open(self, kind: str, block: dict) -> bytes:
        out = self._close()
        self.index += 1
        self.block = kind
        out += sse("content_block_start", {"type": "content_block_start", "index": self.index, "content_block": block})
        if not self.pinged:
            out += self._ping()
        return out

    def _close(self) -> bytes:
        if self.block is None:
            return b""
        out = b""
        if self.block == "thinking":  # Anthropic ends thinking with its signature; Ollama has none
            out = self._event_delta({"type": "signature_delta", "signature": ""})
        self.block = None
        return out + sse("content_block_stop", {"type": "content_block_stop", "index": self.index})

    def _delta(self, kind: str, delta: dict) -> bytes:
        out = b""
        if self.block != kind:
            empty = (
                {"type": "thinking", "thinking": "", "signature": ""}
                if kind == "thinking"
                else {"type": "text", "text": ""}
            )
            out = self._open(kind, empty)
        return out + self._event_delta(delta)

    def _event_delta(self, delta: dict) -> bytes:
        return sse("content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": delta})

    def _tool_use(self, call: dict) -> bytes:
        block = tool_use_block(call)
        arguments = block["input"]
        out = self._open("tool_use", {**block, "input": {}})
        out += self._event_delta({"type": "input_json_delta", "partial_json": orjson.dumps(arguments).decode()})
        self.tool_calls += 1
        return out + self._close()
