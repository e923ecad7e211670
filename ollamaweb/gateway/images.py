"""Fetching http(s) image URLs for vision requests (Ollama itself accepts only base64 data).

Refuses private, loopback and link-local addresses unless OLLAMAWEB_IMAGE_FETCH_ALLOW_PRIVATE is
set, so users cannot make the gateway probe the internal network.
"""

import asyncio
import base64
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2 as httpx
from django.conf import settings

from ollamaweb.core.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class RemoteImage:
    """An http(s) image URL that must be fetched and base64-encoded before calling Ollama."""

    url: str
    param: str


async def inline_remote_images(messages: list[dict]):
    for message in messages:
        images = message.get("images")
        if images and any(isinstance(image, RemoteImage) for image in images):
            message["images"] = [await fetch_image(i) if isinstance(i, RemoteImage) else i for i in images]


async def fetch_image(image: RemoteImage) -> str:
    if not settings.IMAGE_FETCH_ENABLED:
        raise InvalidRequest(
            "Image URLs are disabled on this server; send the image as a base64 data URL.", param=image.param
        )
    host = urlsplit(image.url).hostname
    if not host:
        raise InvalidRequest(f"Invalid image URL in '{image.param}'.", param=image.param, code="invalid_image")
    if not settings.IMAGE_FETCH_ALLOW_PRIVATE:
        await _refuse_private(host, image.param)
    try:
        async with httpx.AsyncClient(timeout=settings.IMAGE_FETCH_TIMEOUT, trust_env=False) as client:
            async with client.stream("GET", image.url, follow_redirects=False) as response:
                if response.status_code != 200:
                    raise InvalidRequest(
                        f"Could not fetch the image in '{image.param}': HTTP {response.status_code}.",
                        param=image.param,
                        code="invalid_image_url",
                    )
                if not response.headers.get("content-type", "image/").startswith("image/"):
                    raise InvalidRequest(
                        f"The URL in '{image.param}' is not an image.", param=image.param, code="invalid_image_url"
                    )
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > settings.IMAGE_FETCH_MAX_BYTES:
                        raise InvalidRequest(
                            f"The image in '{image.param}' is larger than {settings.IMAGE_FETCH_MAX_BYTES} bytes.",
                            param=image.param,
                            code="image_too_large",
                        )
    except httpx.HTTPError as exc:
        raise InvalidRequest(
            f"Could not fetch the image in '{image.param}': {type(exc).__name__}.",
            param=image.param,
            code="invalid_image_url",
        ) from exc
    return base64.b64encode(bytes(data)).decode()


async def _refuse_private(host: str, param: str):
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        raise InvalidRequest(
            f"Could not resolve the image host in '{param}'.", param=param, code="invalid_image_url"
        ) from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise InvalidRequest(
                f"The image URL in '{param}' points to a private address, which this server does not fetch.",
                param=param,
                code="invalid_image_url",
            )
