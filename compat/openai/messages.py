"""OpenAI chat messages → Ollama native messages (pure; images given as URLs are left for the caller)."""

import binascii
import re

from ollamaweb.core.errors import InvalidRequest
from ollamaweb.gateway.images import RemoteImage

from .common import arguments_object, type_name

ROLES = {"system", "developer", "user", "assistant", "tool"}
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]*/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,(?P<data>.*)$", re.DOTALL)


def convert_messages(messages) -> list[dict]:
    if not isinstance(messages, list):
        raise InvalidRequest(
            f"Invalid type for 'messages': expected an array, got {type_name(messages)}.",
            param="messages",
            code="invalid_type",
        )
    if not messages:
        raise InvalidRequest("'messages' must contain at least one message.", param="messages", code="invalid_value")
    tool_names: dict[str, str] = {}
    return [_convert_message(message, f"messages[{i}]", tool_names) for i, message in enumerate(messages)]


def _convert_message(message, param: str, tool_names: dict[str, str]) -> dict:
    if not isinstance(message, dict):
        raise InvalidRequest(f"Invalid type for '{param}': expected an object.", param=param, code="invalid_type")
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidRequest(
            f"Invalid value for '{param}.role': {role!r}; expected one of {', '.join(sorted(ROLES))}.",
            param=f"{param}.role",
            code="invalid_value",
        )
    content = message.get("content")
    has_tool_calls = bool(message.get("tool_calls"))
    if content is None and role != "assistant":
        raise InvalidRequest(f"Missing required parameter: '{param}.content'.", param=f"{param}.content")
    text, images = _convert_content(content, f"{param}.content")
    native = {"role": "system" if role == "developer" else role, "content": text}
    if images:
        native["images"] = images
    if role == "assistant":
        thinking = message.get("reasoning") or message.get("reasoning_content")
        if isinstance(thinking, str) and thinking:
            native["thinking"] = thinking
        if has_tool_calls:
            native["tool_calls"] = _convert_tool_calls(message["tool_calls"], f"{param}.tool_calls", tool_names)
    elif role == "tool":
        call_id = message.get("tool_call_id")
        if call_id is not None and not isinstance(call_id, str):
            raise InvalidRequest(
                f"Invalid type for '{param}.tool_call_id': expected a string.", param=f"{param}.tool_call_id"
            )
        name = message.get("name") if isinstance(message.get("name"), str) else None
        if name or call_id in tool_names:
            native["tool_name"] = name or tool_names[call_id]
        if call_id:
            native["tool_call_id"] = call_id
    return native


def _convert_content(content, param: str) -> tuple[str, list]:
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise InvalidRequest(
            f"Invalid type for '{param}': expected a string or an array of content parts, got {type_name(content)}.",
            param=param,
            code="invalid_type",
        )
    texts, images = [], []
    for i, part in enumerate(content):
        part_param = f"{param}[{i}]"
        if not isinstance(part, dict):
            raise InvalidRequest(
                f"Invalid type for '{part_param}': expected an object.", param=part_param, code="invalid_type"
            )
        kind = part.get("type")
        if kind in ("text", "input_text", "refusal"):
            key = "refusal" if kind == "refusal" else "text"
            value = part.get(key)
            if not isinstance(value, str):
                raise InvalidRequest(
                    f"Invalid type for '{part_param}.{key}': expected a string.", param=f"{part_param}.{key}"
                )
            texts.append(value)
        elif kind == "image_url":
            images.append(_image(part.get("image_url"), f"{part_param}.image_url"))
        elif kind == "input_audio":
            images.append(_audio(part.get("input_audio"), f"{part_param}.input_audio"))
        else:
            raise InvalidRequest(
                f"Invalid value for '{part_param}.type': {kind!r}; supported are 'text', 'image_url' and 'input_audio'.",
                param=f"{part_param}.type",
                code="invalid_value",
            )
    return "\n".join(texts), images


def _image(image_url, param: str):
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"Missing required parameter: '{param}.url'.", param=f"{param}.url")
    if url.startswith(("http://", "https://")):
        return RemoteImage(url, f"{param}.url")
    match = _DATA_URL.match(url)
    if not match or (match["mime"] and not match["mime"].startswith("image/")):
        raise InvalidRequest(
            f"Invalid image in '{param}.url': expected a base64 data URL (data:image/png;base64,...) or an http(s) URL.",
            param=f"{param}.url",
            code="invalid_image",
        )
    return _checked_base64(match["data"], f"{param}.url")


def _audio(audio, param: str) -> str:
    data = audio.get("data") if isinstance(audio, dict) else None
    if not isinstance(data, str) or not data:
        raise InvalidRequest(f"Missing required parameter: '{param}.data'.", param=f"{param}.data")
    return _checked_base64(data, f"{param}.data")


def _checked_base64(data: str, param: str) -> str:
    data = "".join(data.split())
    if not data:
        raise InvalidRequest(f"Empty base64 data in '{param}'.", param=param, code="invalid_image")
    try:
        binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"Invalid base64 data in '{param}'.", param=param, code="invalid_image") from None
    return data


def _convert_tool_calls(calls, param: str, tool_names: dict[str, str]) -> list[dict]:
    if not isinstance(calls, list):
        raise InvalidRequest(f"Invalid type for '{param}': expected an array.", param=param, code="invalid_type")
    native_calls = []
    for i, call in enumerate(calls):
        call_param = f"{param}[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidRequest(
                f"Missing required parameter: '{call_param}.function.name'.", param=f"{call_param}.function.name"
            )
        arguments = arguments_object(function.get("arguments", "{}"))
        if arguments is None:
            raise InvalidRequest(
                f"Invalid value for '{call_param}.function.arguments': expected a JSON object encoded as a string.",
                param=f"{call_param}.function.arguments",
                code="invalid_value",
            )
        native_call = {"function": {"index": i, "name": name, "arguments": arguments}}
        call_id = call.get("id")
        if isinstance(call_id, str) and call_id:
            native_call["id"] = call_id
            tool_names[call_id] = name
        native_calls.append(native_call)
    return native_calls
