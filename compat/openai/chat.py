"""/v1/chat/completions ⇄ Ollama /api/chat (pure functions and a per-choice stream translator)."""

from dataclasses import dataclass, field

import orjson

from ollamaweb.core.errors import InvalidRequest

from .common import (
    TOKEN_COUNT_MAX,
    check_logit_bias,
    finish_reason,
    get_bool,
    get_int,
    get_n,
    get_stream_options,
    get_string,
    new_tool_call_id,
    require_object,
    sampling_options,
    type_name,
)
from .messages import RemoteImage, convert_messages

REASONING_EFFORT = {"none": False, "minimal": "low", "low": "low", "medium": "medium", "high": "high",
                    "max": "max", "xhigh": "max", "ultra": "max"}  # fmt: skip


@dataclass
class ChatRequest:
    model: str
    native: dict
    n: int = 1
    stream: bool = False
    include_usage: bool = False
    logprobs: bool = False
    client_user: str = ""
    remote_images: list[RemoteImage] = field(default_factory=list)


def parse_chat_request(body, max_choices: int) -> ChatRequest:
    """Validate an OpenAI chat request and build the native /api/chat body (without `model`)."""
    body = require_object(body)
    model = get_string(body, "model", required=True, allow_empty=False)
    stream = bool(get_bool(body, "stream", False))
    native = {"messages": convert_messages(body.get("messages")), "stream": stream}
    options = sampling_options(body)
    max_tokens = get_int(body, "max_completion_tokens", minimum=1, maximum=TOKEN_COUNT_MAX)
    if max_tokens is None:
        max_tokens = get_int(body, "max_tokens", minimum=1, maximum=TOKEN_COUNT_MAX)
    if max_tokens is not None:
        options["num_predict"] = max_tokens
    if options:
        native["options"] = options
    _add_format(native, body.get("response_format"))
    _add_tools(native, body.get("tools"), body.get("tool_choice"))
    logprobs = _add_logprobs(native, body)
    _add_think(native, body)
    check_logit_bias(body)
    keep_alive = body.get("keep_alive")
    if isinstance(keep_alive, int | str) and not isinstance(keep_alive, bool):
        native["keep_alive"] = keep_alive
    remote_images = [
        image for message in native["messages"] for image in message.get("images", ()) if isinstance(image, RemoteImage)
    ]
    return ChatRequest(
        model=model,
        native=native,
        n=get_n(body, max_choices),
        stream=stream,
        include_usage=get_stream_options(body, stream),
        logprobs=logprobs,
        client_user=get_string(body, "user") or "",
        remote_images=remote_images,
    )


def _add_format(native: dict, response_format):
    if response_format is None:
        return
    if not isinstance(response_format, dict):
        raise InvalidRequest(
            "Invalid type for 'response_format': expected an object.", param="response_format", code="invalid_type"
        )
    kind = response_format.get("type")
    if kind == "json_object":
        native["format"] = "json"
    elif kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise InvalidRequest(
                "Missing required parameter: 'response_format.json_schema.schema' (a JSON schema object).",
                param="response_format.json_schema.schema",
            )
        native["format"] = schema
    elif kind != "text":
        raise InvalidRequest(
            f"Invalid value for 'response_format.type': {kind!r}; expected 'text', 'json_object' or 'json_schema'.",
            param="response_format.type",
            code="invalid_value",
        )


def _add_tools(native: dict, tools, tool_choice):
    if tools is None:
        tools = []
    if not isinstance(tools, list):
        raise InvalidRequest(
            f"Invalid type for 'tools': expected an array, got {type_name(tools)}.", param="tools", code="invalid_type"
        )
    converted = [_convert_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    if tool_choice in (None, "auto", "required"):
        pass  # "required" cannot be enforced on Ollama: the tools are offered, the model decides.
    elif tool_choice == "none":
        converted = []
    elif isinstance(tool_choice, dict) and isinstance(tool_choice.get("function"), dict):
        name = tool_choice["function"].get("name")
        converted = [tool for tool in converted if tool["function"]["name"] == name]
        if not converted:
            raise InvalidRequest(
                f"Invalid value for 'tool_choice': no tool named {name!r} in 'tools'.",
                param="tool_choice",
                code="invalid_value",
            )
    else:
        raise InvalidRequest(
            "Invalid value for 'tool_choice': expected 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}.",
            param="tool_choice",
            code="invalid_value",
        )
    if converted:
        native["tools"] = converted


def _convert_tool(tool, param: str) -> dict:
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        raise InvalidRequest(
            f"Invalid value for '{param}': only function tools are supported.", param=param, code="invalid_value"
        )
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise InvalidRequest(f"Missing required parameter: '{param}.function.name'.", param=f"{param}.function.name")
    converted = {"name": function["name"]}
    if isinstance(function.get("description"), str):
        converted["description"] = function["description"]
    parameters = function.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise InvalidRequest(
                f"Invalid type for '{param}.function.parameters': expected an object.",
                param=f"{param}.function.parameters",
            )
        converted["parameters"] = parameters
    return {"type": "function", "function": converted}


def _add_logprobs(native: dict, body: dict) -> bool:
    logprobs = bool(get_bool(body, "logprobs", False))
    top = get_int(body, "top_logprobs", minimum=0, maximum=20)
    if top and not logprobs:
        raise InvalidRequest(
            "'logprobs' must be true when 'top_logprobs' is set.", param="top_logprobs", code="invalid_value"
        )
    if logprobs:
        native["logprobs"] = True
        if top:
            native["top_logprobs"] = top
    return logprobs


def _add_think(native: dict, body: dict):
    effort, param = body.get("reasoning_effort"), "reasoning_effort"
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        effort, param = reasoning["effort"], "reasoning.effort"
    if effort is None:
        return
    if not isinstance(effort, str) or effort not in REASONING_EFFORT:
        raise InvalidRequest(
            f"Invalid value for '{param}': {effort!r}; expected one of {', '.join(REASONING_EFFORT)}.",
            param=param,
            code="invalid_value",
        )
    native["think"] = REASONING_EFFORT[effort]


# --- responses ---------------------------------------------------------------------------


def tool_call(native_call: dict, index: int | None = None) -> dict:
    function = native_call.get("function") or {}
    arguments = function.get("arguments", {})
    call = {
        "id": native_call.get("id") or new_tool_call_id(),
        "type": "function",
        "function": {
            "name": function.get("name", ""),
            "arguments": arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode(),
        },
    }
    if index is not None:
        call = {"index": index, **call}
    return call


def logprob_entry(native: dict) -> dict:
    token = native.get("token", "")
    return {
        "token": token,
        "logprob": native.get("logprob", 0.0),
        "bytes": native.get("bytes") or list(token.encode()),
        "top_logprobs": [
            {
                "token": top.get("token", ""),
                "logprob": top.get("logprob", 0.0),
                "bytes": top.get("bytes") or list(top.get("token", "").encode()),
            }
            for top in native.get("top_logprobs") or ()
        ],
    }


def chat_choice(native: dict, index: int, logprobs: bool) -> dict:
    """One OpenAI choice from a non-streaming /api/chat response."""
    message = native.get("message") or {}
    calls = [tool_call(call) for call in message.get("tool_calls") or ()]
    content = message.get("content") or ""
    out = {"role": "assistant", "content": content if content or not calls else None, "refusal": None}
    if message.get("thinking"):
        out["reasoning"] = message["thinking"]
    if calls:
        out["tool_calls"] = calls
    entries = native.get("logprobs")
    return {
        "index": index,
        "message": out,
        "logprobs": {"content": [logprob_entry(e) for e in entries], "refusal": None} if logprobs and entries else None,
        "finish_reason": finish_reason(native.get("done_reason"), bool(calls)),
    }


class ChatStream:
    """Translates one choice's native stream objects into `choices[]` entries of chunks."""

    def __init__(self, index: int, logprobs: bool):
        self.index = index
        self.logprobs = logprobs
        self.role_sent = False
        self.tool_calls_sent = 0
        self.done = False
        self.done_reason = None

    def feed(self, native: dict) -> dict | None:
        message = native.get("message") or {}
        delta = {}
        if message.get("thinking"):
            delta["reasoning"] = message["thinking"]
        if message.get("content"):
            delta["content"] = message["content"]
        if message.get("tool_calls"):
            calls = [tool_call(call, self.tool_calls_sent + i) for i, call in enumerate(message["tool_calls"])]
            self.tool_calls_sent += len(calls)
            delta["tool_calls"] = calls
        if native.get("done"):
            self.done = True
            self.done_reason = native.get("done_reason")
        entries = native.get("logprobs") if self.logprobs else None
        if not delta and self.role_sent and not entries:
            return None
        if not self.role_sent:
            delta = {"role": "assistant", "content": "", **delta}
            self.role_sent = True
        choice = {"index": self.index, "delta": delta, "logprobs": None, "finish_reason": None}
        if entries:
            choice["logprobs"] = {"content": [logprob_entry(e) for e in entries], "refusal": None}
        return choice

    def finish(self) -> dict:
        return {
            "index": self.index,
            "delta": {},
            "logprobs": None,
            "finish_reason": finish_reason(self.done_reason, self.tool_calls_sent > 0),
        }
