"""OpenAI Responses API (`/v1/responses`) ⇄ Ollama `/api/chat` (pure translation, no I/O).

- `parse_request(body)` validates a request and normalises its new input items (with ids, as
  they are stored and listed by `GET /v1/responses/{id}/input_items`);
- `native_chat(request, history)` builds the native /api/chat body (without `model`) from the
  instructions, the earlier conversation items the gateway rebuilt from storage, and the new input;
- `response_from_native(...)` renders a non-streaming result as a Response object;
- `ResponsesStream` turns native NDJSON chunks into the typed server-sent events of the
  Responses API (`sequence_number` from 0, one terminal event), in the order openai-python's
  `client.responses.stream()` helper accepts.
"""

import re
import time
from dataclasses import dataclass, field

import orjson

from ollamaweb.core.errors import InvalidRequest
from ollamaweb.gateway.images import RemoteImage

from .common import arguments_object, new_id

# reasoning.effort → Ollama's `think` (as Ollama's own layer maps it).
REASONING_EFFORT = {"none": False, "minimal": "low", "low": "low", "medium": "medium", "high": "high",
                    "max": "max", "xhigh": "max", "ultra": "max"}  # fmt: skip
INPUT_ROLES = {"user", "system", "developer", "assistant"}
METADATA_MAX_PAIRS, METADATA_MAX_KEY, METADATA_MAX_VALUE = 16, 64, 512
# Item types that only the platform's own tools produce: kept in stored history, not sent to the model.
SKIPPED_ITEMS = {
    "web_search_call", "file_search_call", "image_generation_call", "code_interpreter_call", "computer_call",
    "computer_call_output", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response", "mcp_call",
    "tool_search_call", "tool_search_output", "compaction", "additional_tools",
}  # fmt: skip
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]*/[\w.+-]+)?(?:;[^;,]*)*?;base64,(?P<data>.*)$", re.DOTALL)
_MISSING = object()


def _type_name(value) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _invalid_type(param: str, expected: str, value) -> InvalidRequest:
    return InvalidRequest(
        f"Invalid type for '{param}': expected {expected}, got {_type_name(value)}.", param=param, code="invalid_type"
    )


def _invalid_value(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for '{param}': {message}", param=param, code="invalid_value")


def _missing(param: str) -> InvalidRequest:
    return InvalidRequest(f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def _string(body: dict, name: str, param: str | None = None, *, required=False, allow_empty=True):
    param = param or name
    value = body.get(name)
    if value is None:
        if required:
            raise _missing(param)
        return None
    if not isinstance(value, str):
        raise _invalid_type(param, "a string", value)
    if not allow_empty and not value:
        raise InvalidRequest(f"'{param}' must not be empty.", param=param, code="invalid_value")
    return value


def _bool(body: dict, name: str, default=None):
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid_type(name, "a boolean", value)
    return value


def _number(body: dict, name: str, minimum, maximum=None, *, integer=False):
    value = body.get(name)
    if value is None:
        return None
    if integer and isinstance(value, float) and value.is_integer():
        value = int(value)
    kinds = int if integer else int | float
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or value != value
        or value in (float("inf"), -float("inf"))
    ):
        raise _invalid_type(name, "an integer" if integer else "a number", value)
    if value < minimum:
        raise _invalid_value(name, f"{value} is less than the minimum of {minimum}.")
    if maximum is not None and value > maximum:
        raise _invalid_value(name, f"{value} is greater than the maximum of {maximum}.")
    return value


# --- the request -------------------------------------------------------------------------------


@dataclass
class ResponsesRequest:
    model: str
    stream: bool
    store: bool
    previous_response_id: str | None
    instructions: str | None
    input_items: list[dict]  # the new input, normalised with ids (what is stored and listed)
    settings: dict  # the request settings a Response object echoes
    options: dict = field(default_factory=dict)  # native `options`
    extra: dict = field(default_factory=dict)  # other native fields: format, think, keep_alive
    tools: list[dict] = field(default_factory=list)  # native tools offered to the model
    namespaces: dict[str, tuple[str, str]] = field(default_factory=dict)  # flat name → (namespace, name)
    custom_tools: frozenset = frozenset()  # (flat) names of free-form tools: their calls are custom_tool_call
    include: list[str] = field(default_factory=list)
    client_user: str = ""


def parse_request(body) -> ResponsesRequest:
    """Validate a Responses request (everything but the stored history it may refer to)."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not {_type_name(body)}.")
    model = _string(body, "model", required=True, allow_empty=False)
    for name, reason in (
        ("background", "background responses are not supported by this server"),
        ("conversation", "the Conversations API is not supported by this server; use 'previous_response_id'"),
        ("prompt", "stored prompt templates are not supported by this server; send 'instructions' and 'input'"),
    ):
        if body.get(name) not in (None, False):
            raise InvalidRequest(f"'{name}' is not supported: {reason}.", param=name, code="unsupported_parameter")
    previous = _string(body, "previous_response_id", allow_empty=False)
    instructions = _string(body, "instructions")
    input_items = normalise_input(body.get("input"))
    # Convert once on its own so a malformed item gets its 400 before any storage lookup.
    items_to_messages(input_items, "input")

    options = {}
    for name, maximum in (("temperature", 2), ("top_p", 1)):
        value = _number(body, name, 0, maximum)
        if value is not None:
            options[name] = value
    max_output = _number(body, "max_output_tokens", 1, integer=True)
    if max_output is not None:
        options["num_predict"] = max_output
    # Ollama options the Responses API lacks, accepted as extensions (as on /v1/chat/completions).
    for name, minimum, integer in (("top_k", 0, True), ("num_ctx", 1, True), ("seed", -(2**63), True),
                                   ("min_p", 0, False), ("repeat_penalty", 0, False)):  # fmt: skip
        value = _number(body, name, minimum, integer=integer)
        if value is not None:
            options[name] = value

    extra = {}
    text_format = _text_format(body.get("text"))
    if text_format["type"] == "json_object":
        extra["format"] = "json"
    elif text_format["type"] == "json_schema":
        extra["format"] = text_format["schema"]
    reasoning = _reasoning(body.get("reasoning"))
    if reasoning["effort"] is not None:
        extra["think"] = REASONING_EFFORT[reasoning["effort"]]
    keep_alive = body.get("keep_alive")
    if isinstance(keep_alive, int | str) and not isinstance(keep_alive, bool):
        extra["keep_alive"] = keep_alive

    tools, namespaces, echoed_tools, custom_tools = _tools(body.get("tools"))
    tool_choice = body.get("tool_choice")
    tools = _apply_tool_choice(tools, tool_choice)
    parallel = _bool(body, "parallel_tool_calls", True)
    metadata = _metadata(body.get("metadata"))
    user = _string(body, "user") or ""
    safety_identifier = _string(body, "safety_identifier") or ""
    include = body.get("include") or []
    if not isinstance(include, list) or not all(isinstance(item, str) for item in include):
        raise _invalid_type("include", "an array of strings", include)
    truncation = body.get("truncation") or "disabled"
    if truncation not in ("auto", "disabled"):
        raise _invalid_value("truncation", f"{truncation!r}; expected 'auto' or 'disabled'.")
    store = _bool(body, "store", True)
    stream = bool(_bool(body, "stream", False))

    settings = {
        "instructions": instructions,
        "max_output_tokens": max_output,
        "metadata": metadata,
        "parallel_tool_calls": parallel,
        "previous_response_id": previous,
        "reasoning": reasoning,
        "store": store,
        "temperature": options.get("temperature"),
        "text": {"format": text_format},
        "tool_choice": tool_choice if tool_choice is not None else "auto",
        "tools": echoed_tools,
        "top_p": options.get("top_p"),
        "truncation": truncation,
        "user": user or None,
    }
    return ResponsesRequest(
        model=model,
        stream=stream,
        store=store,
        previous_response_id=previous,
        instructions=instructions,
        input_items=input_items,
        settings=settings,
        options=options,
        extra=extra,
        tools=tools,
        namespaces=namespaces,
        custom_tools=custom_tools,
        include=include,
        client_user=user or safety_identifier,
    )


def native_chat(request: ResponsesRequest, history: list[dict] = ()) -> dict:
    """The native /api/chat body (without `model`): instructions, then `history` (earlier input and
    output items of the `previous_response_id` chain, oldest first), then the new input."""
    messages = [{"role": "system", "content": request.instructions}] if request.instructions else []
    messages += items_to_messages([*history, *request.input_items], "input", first_new=len(history))
    native = {"messages": messages, "stream": request.stream, **request.extra}
    if request.tools:
        native["tools"] = request.tools
    if request.options:
        native["options"] = dict(request.options)
    return native


def _text_format(text) -> dict:
    if text is None:
        return {"type": "text"}
    if not isinstance(text, dict):
        raise _invalid_type("text", "an object", text)
    spec = text.get("format")
    if spec is None:
        return {"type": "text"}
    if not isinstance(spec, dict):
        raise _invalid_type("text.format", "an object", spec)
    kind = spec.get("type")
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind == "json_schema":
        name = _string(spec, "name", "text.format.name", required=True, allow_empty=False)
        schema = spec.get("schema")
        if not isinstance(schema, dict):
            raise _missing("text.format.schema")
        echoed = {"type": "json_schema", "name": name, "schema": schema, "strict": spec.get("strict")}
        if isinstance(spec.get("description"), str):
            echoed["description"] = spec["description"]
        return echoed
    raise _invalid_value("text.format.type", f"{kind!r}; expected 'text', 'json_object' or 'json_schema'.")


def _reasoning(reasoning) -> dict:
    if reasoning is None:
        return {"effort": None, "summary": None}
    if not isinstance(reasoning, dict):
        raise _invalid_type("reasoning", "an object", reasoning)
    effort = reasoning.get("effort")
    if effort is not None and (not isinstance(effort, str) or effort not in REASONING_EFFORT):
        raise _invalid_value("reasoning.effort", f"{effort!r}; expected one of {', '.join(REASONING_EFFORT)}.")
    summary = reasoning.get("summary", reasoning.get("generate_summary"))
    return {"effort": effort, "summary": summary if isinstance(summary, str) else None}


def _metadata(metadata) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise _invalid_type("metadata", "an object", metadata)
    if len(metadata) > METADATA_MAX_PAIRS:
        raise _invalid_value("metadata", f"at most {METADATA_MAX_PAIRS} key-value pairs are allowed.")
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY:
            raise _invalid_value("metadata", f"keys are at most {METADATA_MAX_KEY} characters ({key[:20]!r}…).")
        if not isinstance(value, str):
            raise _invalid_type(f"metadata.{key}", "a string", value)
        if len(value) > METADATA_MAX_VALUE:
            raise _invalid_value(f"metadata.{key}", f"values are at most {METADATA_MAX_VALUE} characters.")
    return metadata


# --- tools ----------------------------------------------------------------------------------------


def _tools(tools) -> tuple[list[dict], dict, list[dict], frozenset]:
    """(native tools, flat name → (namespace, name), the tools as echoed in the Response, the
    names of custom tools).

    Function tools are offered as they are; custom (free-form) tools as functions taking one
    string `input`; a namespace's tools as `namespace.name`. Tools only OpenAI's platform can run
    (web search, file search, code interpreter, hosted shell, MCP, ...) are not offered: no Ollama
    backend can execute them.
    """
    if tools is None:
        return [], {}, [], frozenset()
    if not isinstance(tools, list):
        raise _invalid_type("tools", "an array", tools)
    native, namespaces, echoed, custom = [], {}, [], set()
    for i, tool in enumerate(tools):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise _invalid_type(param, "an object", tool)
        kind = tool.get("type")
        if kind in ("function", "custom"):
            native.append(_native_tool(tool, param))
            echoed.append(tool)
            if kind == "custom":
                custom.add(tool["name"])
        elif kind == "namespace":
            prefix = _string(tool, "name", f"{param}.name", required=True, allow_empty=False)
            members = tool.get("tools")
            if not isinstance(members, list):
                raise _invalid_type(f"{param}.tools", "an array", members)
            for j, member in enumerate(members):
                if not isinstance(member, dict):
                    raise _invalid_type(f"{param}.tools[{j}]", "an object", member)
                converted = _native_tool(member, f"{param}.tools[{j}]")
                flat = f"{prefix}.{converted['function']['name']}"
                namespaces[flat] = (prefix, converted["function"]["name"])
                if member.get("type") == "custom":
                    custom.add(flat)
                converted["function"]["name"] = flat
                native.append(converted)
            echoed.append(tool)
        elif not isinstance(kind, str):
            raise _missing(f"{param}.type")
    return native, namespaces, echoed, frozenset(custom)


def _native_tool(tool: dict, param: str) -> dict:
    name = _string(tool, "name", f"{param}.name", required=True, allow_empty=False)
    function = {"name": name}
    description = _string(tool, "description", f"{param}.description")
    if description:
        function["description"] = description
    if tool.get("type") == "custom":
        function["parameters"] = {
            "type": "object",
            "properties": {"input": {"type": "string", "description": "The tool's free-form input."}},
            "required": ["input"],
        }
    else:
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _invalid_type(f"{param}.parameters", "an object", parameters)
        function["parameters"] = parameters or {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def _apply_tool_choice(tools: list[dict], choice) -> list[dict]:
    """`none` offers no tools; a named function (or `allowed_tools`) offers only those; `auto` and
    `required` offer them all (Ollama cannot force a call: the model decides)."""
    if choice is None or choice in ("auto", "required"):
        return tools
    if choice == "none":
        return []
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("function", "custom"):
            name = choice.get("name")
            if not isinstance(name, str) or not name:
                raise _missing("tool_choice.name")
            if isinstance(choice.get("namespace"), str):
                name = f"{choice['namespace']}.{name}"
            chosen = [tool for tool in tools if tool["function"]["name"] == name]
            if not chosen:
                raise _invalid_value("tool_choice", f"no tool named {name!r} in 'tools'.")
            return chosen
        if kind == "allowed_tools":
            allowed = choice.get("tools")
            if not isinstance(allowed, list):
                raise _invalid_type("tool_choice.tools", "an array", allowed)
            names = {entry.get("name") for entry in allowed if isinstance(entry, dict)}
            return [] if choice.get("mode") == "none" else [t for t in tools if t["function"]["name"] in names]
        if isinstance(kind, str):
            return tools  # a hosted tool type: not offered anyway
    raise _invalid_value(
        "tool_choice", "expected 'none', 'auto', 'required' or {\"type\": \"function\", \"name\": ...}."
    )


# --- input items ----------------------------------------------------------------------------------


def normalise_input(value) -> list[dict]:
    """The request's `input` as a list of items, each with an id (as stored and listed)."""
    if value is None:
        raise _missing("input")
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise _invalid_type("input", "a string or an array of input items", value)
    items = []
    for i, item in enumerate(value):
        param = f"input[{i}]"
        if not isinstance(item, dict):
            raise _invalid_type(param, "an object", item)
        item = dict(item)
        kind = item.setdefault("type", "message")
        if not isinstance(kind, str):
            raise _invalid_type(f"{param}.type", "a string", kind)
        if kind == "message":
            item["content"] = _message_parts(item, param)
            item.setdefault("status", "completed")
        elif kind in ("function_call", "function_call_output", "custom_tool_call", "custom_tool_call_output"):
            item.setdefault("status", "completed")
        if not isinstance(item.get("id"), str) or not item["id"]:
            item["id"] = new_item_id(kind)
        items.append(item)
    return items


def new_item_id(kind: str) -> str:
    prefix = {"message": "msg_", "function_call": "fc_", "reasoning": "rs_", "function_call_output": "fco_",
              "custom_tool_call": "ctc_", "custom_tool_call_output": "ctco_"}.get(kind, "item_")  # fmt: skip
    return new_id(prefix, 32)


def _message_parts(item: dict, param: str) -> list:
    role = item.get("role")
    content = item.get("content")
    if isinstance(content, str):
        kind = "output_text" if role == "assistant" else "input_text"
        return [{"type": kind, "text": content, **({"annotations": []} if role == "assistant" else {})}]
    if content is None:
        raise _missing(f"{param}.content")
    if not isinstance(content, list):
        raise _invalid_type(f"{param}.content", "a string or an array of content parts", content)
    return content


def items_to_messages(items: list[dict], param: str = "input", first_new: int = 0) -> list[dict]:
    """Input and output items (normalised) → native chat messages.

    `function_call` items join the assistant message before them (or start one); `reasoning`
    becomes the `thinking` of the next assistant message; `function_call_output` becomes a `tool`
    message naming its call. Item `i` is reported as `input[i - first_new]` in errors.
    """
    messages: list[dict] = []
    tool_names: dict[str, str] = {}
    thinking: list[str] = []

    def assistant() -> dict:
        message = {"role": "assistant", "content": ""}
        if thinking:
            message["thinking"] = "\n".join(thinking)
            thinking.clear()
        messages.append(message)
        return message

    for i, item in enumerate(items):
        item_param = f"{param}[{i - first_new}]"
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if not isinstance(role, str) or role not in INPUT_ROLES:
                raise _invalid_value(
                    f"{item_param}.role", f"{role!r}; expected one of {', '.join(sorted(INPUT_ROLES))}."
                )
            text, images = _content(item.get("content"), f"{item_param}.content")
            if role == "assistant":
                assistant()["content"] = text
            else:
                message = {"role": "system" if role == "developer" else role, "content": text}
                if images:
                    message["images"] = images
                messages.append(message)
        elif kind in ("function_call", "custom_tool_call", "local_shell_call"):
            call_id, name, arguments = _call(item, item_param, kind)
            last = messages[-1] if messages and messages[-1]["role"] == "assistant" and not thinking else assistant()
            calls = last.setdefault("tool_calls", [])
            calls.append({"id": call_id, "function": {"index": len(calls), "name": name, "arguments": arguments}})
            tool_names[call_id] = name
        elif kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
            call_id = item.get("call_id") or (item.get("id") if kind == "local_shell_call_output" else None)
            if not isinstance(call_id, str) or not call_id:
                raise _missing(f"{item_param}.call_id")
            text, images = _tool_output(item.get("output"), f"{item_param}.output")
            message = {"role": "tool", "content": text, "tool_call_id": call_id}
            if call_id in tool_names:
                message["tool_name"] = tool_names[call_id]
            if images:
                message["images"] = images
            messages.append(message)
        elif kind == "reasoning":
            text = reasoning_text(item)
            if text:
                thinking.append(text)
        elif kind in SKIPPED_ITEMS:
            continue
        elif kind == "item_reference":
            raise InvalidRequest(
                f"'{item_param}': item references are not supported by this server; send the item itself, "
                "or continue a stored conversation with 'previous_response_id'.",
                param=item_param,
                code="unsupported_parameter",
            )
        else:
            raise _invalid_value(f"{item_param}.type", f"unknown input item type {kind!r}.")
    return messages


def reasoning_text(item: dict) -> str:
    """The thinking a reasoning item carries: its raw `content` if any, else its summary."""
    for key, part_type in (("content", "reasoning_text"), ("summary", "summary_text")):
        parts = item.get(key)
        if isinstance(parts, list):
            texts = [
                p["text"]
                for p in parts
                if isinstance(p, dict) and p.get("type") == part_type and isinstance(p.get("text"), str)
            ]
            if texts:
                return "\n".join(texts)
    return ""


def _call(item: dict, param: str, kind: str) -> tuple[str, str, dict]:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise _missing(f"{param}.call_id")
    if kind == "local_shell_call":
        action = item.get("action") if isinstance(item.get("action"), dict) else {}
        return call_id, "local_shell", {k: v for k, v in action.items() if k != "type"}
    name = _string(item, "name", f"{param}.name", required=True, allow_empty=False)
    if isinstance(item.get("namespace"), str) and item["namespace"]:
        name = f"{item['namespace']}.{name}"
    if kind == "custom_tool_call":
        raw = item.get("input")
        if not isinstance(raw, str):
            raise _invalid_type(f"{param}.input", "a string", raw)
        return call_id, name, {"input": raw}
    arguments = arguments_object(item.get("arguments", "{}"))
    if arguments is None:
        raise _invalid_value(f"{param}.arguments", "expected a JSON object encoded as a string.")
    return call_id, name, arguments


def _content(content, param: str) -> tuple[str, list]:
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise _invalid_type(param, "a string or an array of content parts", content)
    texts, images = [], []
    for i, part in enumerate(content):
        part_param = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise _invalid_type(part_param, "an object", part)
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
            text = part.get("text")
            if not isinstance(text, str):
                raise _invalid_type(f"{part_param}.text", "a string", text)
            texts.append(text)
        elif kind == "refusal":
            if isinstance(part.get("refusal"), str):
                texts.append(part["refusal"])
        elif kind == "input_image":
            images.append(_image(part, part_param))
        elif kind == "input_file":
            raise InvalidRequest(
                f"'{part_param}': file inputs are not supported by this server; send the text as input_text.",
                param=part_param,
                code="unsupported_parameter",
            )
        else:
            raise _invalid_value(
                f"{part_param}.type", f"{kind!r}; supported are 'input_text', 'input_image' and 'output_text'."
            )
    return "\n".join(texts), images


def _tool_output(output, param: str) -> tuple[str, list]:
    if output is None:
        raise _missing(param)
    if isinstance(output, str):
        return output, []
    if isinstance(output, list):
        return _content(output, param)
    return orjson.dumps(output).decode(), []


def _image(part: dict, param: str):
    url = part.get("image_url")
    if isinstance(url, dict):  # tolerate the chat-completions shape
        url = url.get("url")
    if url is None and part.get("file_id") is not None:
        raise InvalidRequest(
            f"'{param}.file_id': uploaded files are not supported by this server; send the image as a data URL.",
            param=f"{param}.file_id",
            code="unsupported_parameter",
        )
    if not isinstance(url, str) or not url:
        raise _missing(f"{param}.image_url")
    if url.startswith(("http://", "https://")):
        return RemoteImage(url, f"{param}.image_url")
    match = _DATA_URL.match(url)
    if not match or (match["mime"] and not match["mime"].startswith("image/")):
        raise InvalidRequest(
            f"Invalid image in '{param}.image_url': expected a base64 data URL (data:image/png;base64,...) "
            "or an http(s) URL.",
            param=f"{param}.image_url",
            code="invalid_image",
        )
    data = "".join(match["data"].split())
    if not data or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", data) or len(data) % 4:
        raise InvalidRequest(
            f"Invalid base64 data in '{param}.image_url'.", param=f"{param}.image_url", code="invalid_image"
        )
    return data


# --- the response -----------------------------------------------------------------------------------


def usage_object(input_tokens: int, output_tokens: int) -> dict:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def response_object(
    response_id: str,
    created_at: int,
    model: str,
    settings: dict,
    *,
    status: str,
    output: list[dict],
    usage: dict | None = None,
    error: dict | None = None,
    incomplete_details: dict | None = None,
    completed_at: int | None = None,
) -> dict:
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "completed_at": completed_at,
        "error": error,
        "incomplete_details": incomplete_details,
        "model": model,
        "output": output,
        "usage": usage,
        **settings,
    }


def new_response_id() -> str:
    return new_id("resp_", 40)


def _arguments(arguments) -> str:
    return (
        arguments if isinstance(arguments, str) else orjson.dumps(arguments if arguments is not None else {}).decode()
    )


def function_call_item(native_call: dict, namespaces: dict, custom_tools=frozenset(), status="completed") -> dict:
    """A native tool call as a `function_call` item, or a `custom_tool_call` when it calls a custom
    tool (whose free-form text the model gave as the `input` argument)."""
    function = native_call.get("function") or {}
    name, arguments = function.get("name", ""), function.get("arguments")
    kind = "custom_tool_call" if name in custom_tools else "function_call"
    item = {
        "id": new_item_id(kind),
        "type": kind,
        "status": status,
        "call_id": native_call.get("id") or new_id("call_", 24),
        "name": name,
    }
    if kind == "custom_tool_call":
        text = arguments.get("input") if isinstance(arguments, dict) else None
        item["input"] = text if isinstance(text, str) else _arguments(arguments)
    else:
        item["arguments"] = _arguments(arguments)
    if name in namespaces:
        item["namespace"], item["name"] = namespaces[name]
    return item


def _output_text(text: str) -> dict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _summary_text(text: str) -> dict:
    return {"type": "summary_text", "text": text}


def message_item(text: str, status: str = "completed", item_id: str | None = None) -> dict:
    return {
        "id": item_id or new_item_id("message"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [_output_text(text)],
    }


def reasoning_item(text: str, item_id: str | None = None) -> dict:
    summary = [_summary_text(text)] if text else []
    return {"id": item_id or new_item_id("reasoning"), "type": "reasoning", "summary": summary}


@dataclass(frozen=True)
class _TextItem:
    """How an item whose text streams (a reasoning item or an assistant message) carries it: in one
    part of the list `parts`, indexed by `index_key` in the `part_events` and `text_events`."""

    parts: str
    part: object  # text -> the part
    index_key: str
    part_events: str
    text_events: str
    text_fields: dict  # sent with each text event besides the text


_TEXT_ITEMS = {
    "reasoning": _TextItem(
        "summary",
        _summary_text,
        "summary_index",
        "response.reasoning_summary_part",
        "response.reasoning_summary_text",
        {},
    ),
    "message": _TextItem(
        "content", _output_text, "content_index", "response.content_part", "response.output_text", {"logprobs": []}
    ),
}


def output_items(
    native: dict, namespaces: dict, parallel_tool_calls: bool = True, custom_tools=frozenset()
) -> list[dict]:
    """Output items of one non-streaming /api/chat result: reasoning, message, function calls.

    The text that comes with tool calls is kept (Ollama's own layer drops it).
    """
    message = native.get("message") or {}
    incomplete = native.get("done_reason") == "length"
    calls = list(message.get("tool_calls") or ())
    if not parallel_tool_calls:
        calls = calls[:1]
    items = []
    if message.get("thinking"):
        items.append(reasoning_item(message["thinking"]))
    content = message.get("content") or ""
    if content or not calls:
        items.append(message_item(content, "incomplete" if incomplete else "completed"))
    items += [function_call_item(call, namespaces, custom_tools) for call in calls]
    return items


def response_from_native(
    response_id: str, created_at: int, model: str, request: ResponsesRequest, native: dict, completed_at: int
) -> dict:
    """The Response object of a non-streaming /api/chat result (usage as the backend reported it)."""
    output = output_items(native, request.namespaces, request.settings["parallel_tool_calls"], request.custom_tools)
    incomplete = native.get("done_reason") == "length"
    return response_object(
        response_id,
        created_at,
        model,
        request.settings,
        status="incomplete" if incomplete else "completed",
        output=output,
        usage=usage_object(int(native.get("prompt_eval_count") or 0), int(native.get("eval_count") or 0)),
        incomplete_details={"reason": "max_output_tokens"} if incomplete else None,
        completed_at=completed_at,
    )


def deleted_object(response_id: str) -> dict:
    return {"id": response_id, "object": "response", "deleted": True}


def item_list(items: list[dict], has_more: bool) -> dict:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


# --- streaming ------------------------------------------------------------------------------------


def sse_event(payload: dict) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class ResponsesStream:
    """Native /api/chat chunks → Responses server-sent events, for one response.

    `start()` gives `response.created` and `response.in_progress` (sent by `feed` if not sent
    before); thinking becomes a reasoning item with summary deltas, content an assistant message
    with `output_text` deltas, each tool call a `function_call` item; `end()` closes open items and
    sends `response.completed` (or `response.incomplete` when the output hit max_output_tokens);
    `fail()` sends `response.failed`. `response` is the final Response object, for storage.
    """

    media_type = "text/event-stream"

    def __init__(self, response_id: str, created_at: int, model: str, request: ResponsesRequest):
        self.response_id = response_id
        self.created_at = created_at
        self.model = model
        self.settings = request.settings
        self.namespaces = request.namespaces
        self.custom_tools = request.custom_tools
        self.parallel_tool_calls = request.settings["parallel_tool_calls"]
        self.sequence = 0
        self.started = False
        self.finished = False
        self.output: list[dict] = []  # every item opened so far, at its output_index
        self.open: dict | None = None  # the reasoning or message item receiving deltas
        self.text = ""
        self.calls = 0
        self.done_reason = None
        self.response: dict | None = None

    def _event(self, kind: str, **fields) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return sse_event(payload)

    def _snapshot(self, status: str, **fields) -> dict:
        """The Response object as it stands (`output` empty unless given)."""
        fields.setdefault("output", [])
        return response_object(self.response_id, self.created_at, self.model, self.settings, status=status, **fields)

    def start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        return self._event("response.created", response=self._snapshot("in_progress")) + self._event(
            "response.in_progress", response=self._snapshot("in_progress")
        )

    def feed(self, index: int, chunk: dict) -> bytes:
        out = self.start()
        message = chunk.get("message") or {}
        if message.get("thinking"):
            out += self._delta("reasoning", message["thinking"])
        if message.get("content"):
            out += self._delta("message", message["content"])
        for call in message.get("tool_calls") or ():
            if self.calls and not self.parallel_tool_calls:
                break
            out += self._close() + self._function_call(call)
        if chunk.get("done"):
            self.done_reason = chunk.get("done_reason")
        return out

    def _delta(self, kind: str, text: str) -> bytes:
        out = b""
        if self.open is None or self.open["type"] != kind:
            out += self._close() + self._open(kind)
        self.text += text
        shape = _TEXT_ITEMS[kind]
        return out + self._event(f"{shape.text_events}.delta", **self._part_ids(shape), delta=text, **shape.text_fields)

    def _part_ids(self, shape: _TextItem) -> dict:
        """The fields that locate the open item's one text part in its events."""
        return {"item_id": self.open["id"], "output_index": len(self.output) - 1, shape.index_key: 0}

    def _open(self, kind: str) -> bytes:
        shape = _TEXT_ITEMS[kind]
        item = message_item("", "in_progress") if kind == "message" else reasoning_item("")
        item[shape.parts] = []
        self.output.append(item)
        self.open = item
        self.text = ""
        ids = self._part_ids(shape)
        added = self._event("response.output_item.added", output_index=ids["output_index"], item=item)
        return added + self._event(f"{shape.part_events}.added", **ids, part=shape.part(""))

    def _close(self, status: str = "completed") -> bytes:
        item = self.open
        if item is None:
            return b""
        shape = _TEXT_ITEMS[item["type"]]
        ids = self._part_ids(shape)
        self.open = None
        part = shape.part(self.text)
        item[shape.parts] = [part]
        if "status" in item:  # a message has one, a reasoning item none
            item["status"] = status
        out = self._event(f"{shape.text_events}.done", **ids, text=self.text, **shape.text_fields)
        out += self._event(f"{shape.part_events}.done", **ids, part=part)
        return out + self._event("response.output_item.done", output_index=ids["output_index"], item=item)

    def _function_call(self, call: dict) -> bytes:
        self.calls += 1
        index = len(self.output)
        item = function_call_item(call, self.namespaces, self.custom_tools)
        self.output.append(item)
        # A custom tool's input and a function's arguments stream alike, under their own event names.
        custom = item["type"] == "custom_tool_call"
        field, events = ("input", "custom_tool_call_input") if custom else ("arguments", "function_call_arguments")
        text = item[field]
        done = {field: text} if custom else {"name": item["name"], "arguments": text}
        out = self._event(
            "response.output_item.added", output_index=index, item=dict(item, status="in_progress", **{field: ""})
        )
        out += self._event(f"response.{events}.delta", item_id=item["id"], output_index=index, delta=text)
        out += self._event(f"response.{events}.done", item_id=item["id"], output_index=index, **done)
        return out + self._event("response.output_item.done", output_index=index, item=item)

    def end(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        """After the backend's final chunk: close open items and send the terminal event."""
        incomplete = self.done_reason == "length"
        out = self.start()
        if not self.output:  # an empty answer is still one (empty) message, as for non-streaming
            out += self._open("message")
        out += self._close("incomplete" if incomplete else "completed")
        self.finished = True
        self.response = self._snapshot(
            "incomplete" if incomplete else "completed",
            output=self.output,
            usage=usage_object(prompt_tokens, completion_tokens),
            incomplete_details={"reason": "max_output_tokens"} if incomplete else None,
            completed_at=int(time.time()),
        )
        kind = "response.incomplete" if incomplete else "response.completed"
        return out + self._event(kind, response=self.response)

    def fail(self, message: str, code: str = "server_error", usage: tuple[int, int] | None = None) -> bytes:
        """A failure after the stream started: `response.failed` carrying the output so far."""
        out = self.start()
        if self.open is not None:
            item = self.open
            item["status"] = "incomplete"
            shape = _TEXT_ITEMS[item["type"]]
            item[shape.parts] = [shape.part(self.text)]
            self.open = None
        self.finished = True
        self.response = self._snapshot(
            "failed",
            output=self.output,
            usage=usage_object(*usage) if usage else None,
            error={"code": code, "message": message},
        )
        return out + self._event("response.failed", response=self.response)


def replay(response: dict, starting_after: int | None = None) -> bytes:
    """The events of a stored response, as `GET /v1/responses/{id}?stream=true` sends them
    (those with a `sequence_number` greater than `starting_after`)."""
    events: list[dict] = []

    def add(kind: str, **fields):
        events.append({"type": kind, "sequence_number": len(events), **fields})

    start = {**response, "status": "in_progress", "output": [], "usage": None, "completed_at": None}
    add("response.created", response=start)
    add("response.in_progress", response=start)
    for index, item in enumerate(response.get("output") or []):
        kind, item_id = item.get("type"), item.get("id")
        if kind == "message":
            add("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "content": []})
            for c, part in enumerate(item.get("content") or []):
                text = part.get("text", "")
                ids = {"item_id": item_id, "output_index": index, "content_index": c}
                add("response.content_part.added", **ids, part={**part, "text": ""})
                if text:
                    add("response.output_text.delta", **ids, delta=text, logprobs=[])
                add("response.output_text.done", **ids, text=text, logprobs=[])
                add("response.content_part.done", **ids, part=part)
        elif kind == "reasoning":
            add("response.output_item.added", output_index=index, item={**item, "summary": []})
            for s, part in enumerate(item.get("summary") or []):
                ids = {"item_id": item_id, "output_index": index, "summary_index": s}
                add("response.reasoning_summary_part.added", **ids, part={**part, "text": ""})
                add("response.reasoning_summary_text.delta", **ids, delta=part.get("text", ""))
                add("response.reasoning_summary_text.done", **ids, text=part.get("text", ""))
                add("response.reasoning_summary_part.done", **ids, part=part)
        elif kind == "custom_tool_call":
            text = item.get("input", "")
            add("response.output_item.added", output_index=index, item={**item, "status": "in_progress", "input": ""})
            add("response.custom_tool_call_input.delta", item_id=item_id, output_index=index, delta=text)
            add("response.custom_tool_call_input.done", item_id=item_id, output_index=index, input=text)
        elif kind == "function_call":
            arguments = item.get("arguments", "")
            add(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            ids = {"item_id": item_id, "output_index": index}
            add("response.function_call_arguments.delta", **ids, delta=arguments)
            add("response.function_call_arguments.done", **ids, name=item.get("name"), arguments=arguments)
        else:
            add("response.output_item.added", output_index=index, item=item)
        add("response.output_item.done", output_index=index, item=item)
    terminal = {"completed": "response.completed", "incomplete": "response.incomplete"}.get(
        response.get("status"), "response.failed"
    )
    add(terminal, response=response)
    return b"".join(
        sse_event(event) for event in events if starting_after is None or event["sequence_number"] > starting_after
    )
