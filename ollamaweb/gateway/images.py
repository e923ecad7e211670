"""Fetching http(s) image URLs for vision requests (Ollama itself accepts only base64 data).

Users must not be able to make the gateway reach the internal network, so a fetch:

- resolves the host once, refuses it when any of its addresses is not public (unless
  OLLAMAWEB_IMAGE_FETCH_ALLOW_PRIVATE is set), and connects to a vetted address itself: the HTTP
  client never resolves the name again, which closes the DNS-rebinding window. The request still
  carries the URL's host in `Host`, and for https in the TLS SNI, against which the certificate is
  verified;
- counts as public only addresses that are public all the way down: an IPv6 address that embeds an
  IPv4 address (IPv4-mapped, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, Teredo) is judged by the IPv4
  address it leads to, and the deprecated IPv4-compatible `::a.b.c.d` form is refused outright;
- follows at most MAX_REDIRECTS redirects, vetting (and pinning) every hop again;
- has one deadline for the whole fetch (OLLAMAWEB_IMAGE_FETCH_TIMEOUT), all hops included and
  shared by all the images of a message list, so a server trickling bytes cannot hold it, and
  stops reading past OLLAMAWEB_IMAGE_FETCH_MAX_BYTES (asking for the body uncompressed, and never
  inflating it).

The image URL is never logged (it may carry a signed token); errors name the request field instead.
"""

import asyncio
import base64
import ipaddress
import socket
from dataclasses import dataclass

import httpx2 as httpx
from django.conf import settings

from ollamaweb.core.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class RemoteImage:
    """An http(s) image URL that must be fetched and base64-encoded before calling Ollama."""

    url: str
    param: str


MAX_REDIRECTS = 3
# What https certificates are verified against (the system's trust store); tests swap in their CA.
TLS_VERIFY = True

_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated (RFC 4291); :: and ::1 are in it too
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT (RFC 2765)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # local-use NAT64 (RFC 8215): never public


def is_public_address(address) -> bool:
    """Whether `address` (str or ip_address) is a public unicast address, looking through IPv6
    forms that embed an IPv4 address (the connection ends up at that IPv4 address)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return _public_ipv4(ip)
    if ip.ipv4_mapped is not None:
        return _public_ipv4(ip.ipv4_mapped)
    if ip in _IPV4_COMPATIBLE or ip in _NAT64_LOCAL:
        return False
    if ip in _NAT64 or ip in _IPV4_TRANSLATED:
        return _public_ipv4(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        return _public_ipv4(ip.sixtofour)
    if ip.teredo is not None:
        server, client = ip.teredo
        return _public_ipv4(server) and _public_ipv4(client)
    return ip.is_global and not (ip.is_multicast or ip.is_site_local)


def _public_ipv4(ip: ipaddress.IPv4Address) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


async def inline_remote_images(messages: list[dict], deadline: float | None = None):
    """Replace each RemoteImage in the messages' `images` by the fetched image (base64).

    All the images share one deadline (event-loop time; default: OLLAMAWEB_IMAGE_FETCH_TIMEOUT from
    now), so many slow images cannot multiply the wait.
    """
    if deadline is None:
        deadline = asyncio.get_running_loop().time() + settings.IMAGE_FETCH_TIMEOUT
    for message in messages:
        images = message.get("images")
        if images and any(isinstance(image, RemoteImage) for image in images):
            message["images"] = [await fetch_image(i, deadline) if isinstance(i, RemoteImage) else i for i in images]


async def fetch_image(image: RemoteImage, deadline: float | None = None) -> str:
    """The image at `image.url`, base64-encoded, or InvalidRequest naming `image.param`.

    The whole fetch (resolution, connection, redirects, body) ends by `deadline` (event-loop time;
    default: OLLAMAWEB_IMAGE_FETCH_TIMEOUT from now).
    """
    if not settings.IMAGE_FETCH_ENABLED:
        raise InvalidRequest(
            "Image URLs are disabled on this server; send the image as a base64 data URL.", param=image.param
        )
    timeout = settings.IMAGE_FETCH_TIMEOUT
    if deadline is None:
        deadline = asyncio.get_running_loop().time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            data = await _fetch(image.url, image.param, timeout)
    except TimeoutError:
        raise _invalid(image.param, f"fetching the images took longer than {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise _invalid(image.param, type(exc).__name__) from None
    return base64.b64encode(data).decode()


async def _fetch(url: str, param: str, timeout: float) -> bytes:
    target = _parse(url, param)
    for _hop in range(MAX_REDIRECTS + 1):
        addresses = await _vetted_addresses(target, param)
        # A new client per hop: a pooled connection, verified for one host name, must never carry
        # a request for another name that resolved to the same address.
        async with httpx.AsyncClient(
            timeout=timeout, trust_env=False, follow_redirects=False, verify=TLS_VERIFY
        ) as client:
            response = await _send_pinned(client, target, addresses)
            try:
                if response.is_redirect:
                    target = _parse(response.headers["location"], param, base=target)
                    continue
                return await _read_image(response, param)
            finally:
                await response.aclose()
    raise _invalid(param, f"more than {MAX_REDIRECTS} redirects")


def _parse(url: str, param: str, base: httpx.URL | None = None) -> httpx.URL:
    try:
        target = base.join(url) if base is not None else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        target = None
    if target is None or target.scheme not in ("http", "https") or not target.host:
        raise InvalidRequest(f"Invalid image URL in '{param}'.", param=param, code="invalid_image")
    return target


async def _vetted_addresses(target: httpx.URL, param: str) -> list[str]:
    """The host's addresses, resolved once; all of them must be public unless private ones are allowed."""
    host = target.raw_host.decode("ascii")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise InvalidRequest(
            f"Could not resolve the image host in '{param}'.", param=param, code="invalid_image_url"
        ) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)))
    if not settings.IMAGE_FETCH_ALLOW_PRIVATE and not all(is_public_address(a.split("%")[0]) for a in addresses):
        raise InvalidRequest(
            f"The image URL in '{param}' points to a private address, which this server does not fetch.",
            param=param,
            code="invalid_image_url",
        )
    addresses = [a for a in addresses if "%" not in a]  # scoped (link-local) addresses cannot go in a URL
    if not addresses:
        raise InvalidRequest(f"Could not resolve the image host in '{param}'.", param=param, code="invalid_image_url")
    return addresses


async def _send_pinned(client: httpx.AsyncClient, target: httpx.URL, addresses: list[str]) -> httpx.Response:
    """GET `target` from the first vetted address that accepts a connection; Host and SNI stay the URL's."""
    # identity: a compressed body would be inflated in memory before the size limit could see it.
    headers = {"Host": target.netloc.decode("ascii"), "Accept": "image/*", "Accept-Encoding": "identity"}
    extensions = {"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" else {}
    for index, address in enumerate(addresses):
        request = client.build_request("GET", target.copy_with(host=address), headers=headers, extensions=extensions)
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError:
            if index == len(addresses) - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _read_image(response: httpx.Response, param: str) -> bytes:
    if response.status_code != 200:
        raise _invalid(param, f"HTTP {response.status_code}")
    if not response.headers.get("content-type", "image/").startswith("image/"):
        raise InvalidRequest(f"The URL in '{param}' is not an image.", param=param, code="invalid_image_url")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise _invalid(param, f"the server sent it compressed ({encoding}) although asked not to")
    limit = settings.IMAGE_FETCH_MAX_BYTES
    too_large = InvalidRequest(
        f"The image in '{param}' is larger than {limit} bytes.", param=param, code="image_too_large"
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    data = bytearray()
    async for chunk in response.aiter_raw():  # as sent: never inflated
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)


def _invalid(param: str, reason: str) -> InvalidRequest:
    return InvalidRequest(f"Could not fetch the image in '{param}': {reason}.", param=param, code="invalid_image_url")
