"""Fetching image URLs cannot be steered into the internal network, held open, or made to read without bound.

The address guard is tested on addresses and with a stubbed resolver; the fetches against real local
servers (127.0.0.1) — plain and TLS — with the resolver stubbed to give the test host names.
"""

import asyncio
import base64
import datetime
import ipaddress
import socket
import ssl
import time

import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ollamaweb.core.errors import InvalidRequest
from ollamaweb.gateway import images
from ollamaweb.gateway.images import RemoteImage, fetch_image, inline_remote_images, is_public_address
from tests.security.image_server import PNG, ImageServer

PARAM = "messages[0].content[1].image_url.url"


# --- the address guard ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.0.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",  # site-local (deprecated)
        "ff02::1",  # multicast
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
        "::127.0.0.1",  # IPv4-compatible
        "::8.8.8.8",  # IPv4-compatible: deprecated, refused whatever it embeds
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::808:808",  # local-use NAT64 prefix
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2001:0:7f00:1:0:0:f5ff:fffe",  # Teredo, server 127.0.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (obfuscated)
        "2001:db8::1",  # documentation
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.216.34",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # NAT64 of a public address
        "2002:808:808::1",  # 6to4 of a public address
    ],
)
def test_public_addresses_pass(address):
    assert is_public_address(address)


# --- a stub resolver --------------------------------------------------------------------------


class Resolver:
    """socket.getaddrinfo with test host names; counts how often each name is resolved."""

    def __init__(self, monkeypatch, names):
        self.names = names  # name -> list of addresses, or a callable giving one list per call
        self.calls = {}
        self._real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.names:
            return self._real(host, port, family, type, proto, flags)
        self.calls[name] = self.calls.get(name, 0) + 1
        answer = self.names[name]
        addresses = answer(self.calls[name]) if callable(answer) else answer
        infos = []
        for address in addresses:
            if ipaddress.ip_address(address).version == 6:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port or 0), 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0))))
        return infos


def fetch(url):
    return asyncio.run(fetch_image(RemoteImage(url, PARAM)))


def refused(url) -> str:
    with pytest.raises(InvalidRequest) as caught:
        fetch(url)
    assert caught.value.param == PARAM
    assert url not in caught.value.message
    return caught.value.message


# --- local image servers ----------------------------------------------------------------------


@pytest.fixture
def server():
    s = ImageServer()
    yield s
    s.close()


@pytest.fixture
def private_allowed(settings):
    settings.IMAGE_FETCH_ALLOW_PRIVATE = True
    settings.IMAGE_FETCH_TIMEOUT = 5.0


@pytest.fixture
def private_refused(settings):
    settings.IMAGE_FETCH_ALLOW_PRIVATE = False
    settings.IMAGE_FETCH_TIMEOUT = 5.0


@pytest.fixture
def loopback_counts_as_public(monkeypatch):
    """Treat 127.0.0.1 (only) as public, so a local server can stand in for a public one."""
    real = images.is_public_address
    monkeypatch.setattr(images, "is_public_address", lambda a: str(a) == "127.0.0.1" or real(a))


# --- fetches ----------------------------------------------------------------------------------


def test_a_local_image_is_fetched_when_private_addresses_are_allowed(server, private_allowed):
    assert base64.b64decode(fetch(f"http://127.0.0.1:{server.port}/cat.png")) == PNG


def test_the_host_is_resolved_once_and_the_vetted_address_is_used(server, private_refused, monkeypatch, settings):
    """DNS rebinding: the guard's lookup says public, a second lookup would say 127.0.0.1."""
    settings.IMAGE_FETCH_TIMEOUT = 1.0
    resolver = Resolver(monkeypatch, {"rebind.test": lambda call: ["93.184.216.34" if call == 1 else "127.0.0.1"]})

    message = refused(f"http://rebind.test:{server.port}/cat.png")  # 93.184.216.34 is not reachable from here
    assert "private address" not in message

    assert resolver.calls == {"rebind.test": 1}
    assert server.requests == []  # the rebound (loopback) address was never contacted


def test_the_host_header_is_the_urls(server, private_allowed, monkeypatch):
    Resolver(monkeypatch, {"images.test": ["127.0.0.1"]})
    assert base64.b64decode(fetch(f"http://images.test:{server.port}/cat.png")) == PNG
    assert server.requests == [("/cat.png", f"images.test:{server.port}")]


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["64:ff9b::7f00:1"],
        ["2002:7f00:1::"],
        ["::127.0.0.1"],
        ["::ffff:127.0.0.1"],
        ["2001:0:7f00:1:0:0:f5ff:fffe"],
        ["169.254.169.254"],
        ["93.184.216.34", "10.0.0.1"],  # one private address among public ones is enough
    ],
)
def test_a_name_resolving_to_a_non_public_address_is_refused_before_connecting(
    server, private_refused, monkeypatch, addresses
):
    Resolver(monkeypatch, {"internal.test": addresses})
    message = refused(f"http://internal.test:{server.port}/cat.png")
    assert "private address" in message
    assert server.requests == []


def test_ip_literals_are_vetted_too(server, private_refused):
    assert "private address" in refused(f"http://127.0.0.1:{server.port}/cat.png")
    assert "private address" in refused(f"http://[::ffff:127.0.0.1]:{server.port}/cat.png")
    assert server.requests == []


def test_the_deadline_covers_the_whole_fetch_not_each_read(server, private_allowed, settings):
    settings.IMAGE_FETCH_TIMEOUT = 1.0
    started = time.monotonic()
    message = refused(f"http://127.0.0.1:{server.port}/trickle.png")  # 40 bytes over 8 s
    elapsed = time.monotonic() - started
    assert "longer than 1 s" in message
    assert elapsed < 2.0, elapsed


def test_the_images_of_a_request_share_one_deadline(server, private_allowed, settings):
    settings.IMAGE_FETCH_TIMEOUT = 1.0
    second = "messages[1].content[0].image_url.url"
    messages = [
        {"role": "user", "images": [RemoteImage(f"http://127.0.0.1:{server.port}/slow-ok.png", PARAM)]},
        {"role": "user", "images": [RemoteImage(f"http://127.0.0.1:{server.port}/slow-ok.png", second)]},
    ]
    started = time.monotonic()
    with pytest.raises(InvalidRequest) as caught:
        asyncio.run(inline_remote_images(messages))  # 0.6 s each: one fits in 1 s, two do not
    assert caught.value.param == second and "longer than 1 s" in caught.value.message
    assert time.monotonic() - started < 1.5
    assert base64.b64decode(messages[0]["images"][0]) == PNG


def test_a_compressed_body_is_refused_not_inflated(server, private_allowed, settings):
    settings.IMAGE_FETCH_MAX_BYTES = 1024 * 1024
    assert "sent it compressed (gzip)" in refused(f"http://127.0.0.1:{server.port}/gzip-bomb.png")
    [(path, _host)] = server.requests
    assert path == "/gzip-bomb.png"


def test_redirects_are_followed_to_a_vetted_address(server, private_refused, loopback_counts_as_public):
    target = f"http://127.0.0.1:{server.port}/cat.png"
    assert base64.b64decode(fetch(f"http://127.0.0.1:{server.port}/redirect?to={target}")) == PNG
    assert [path for path, _ in server.requests] == [f"/redirect?to={target}", "/cat.png"]


def test_a_redirect_to_a_private_address_is_refused(server, private_refused, loopback_counts_as_public, monkeypatch):
    resolver = Resolver(monkeypatch, {"metadata.test": ["169.254.169.254"]})
    message = refused(f"http://127.0.0.1:{server.port}/redirect?to=http://metadata.test/latest/meta-data/")
    assert "private address" in message
    assert resolver.calls == {"metadata.test": 1}
    assert len(server.requests) == 1


def test_redirect_loops_and_other_schemes_are_refused(server, private_allowed):
    assert "more than 3 redirects" in refused(f"http://127.0.0.1:{server.port}/loop")
    assert len(server.requests) == 4
    assert "Invalid image URL" in refused(f"http://127.0.0.1:{server.port}/redirect?to=file:///etc/passwd")
    assert "Invalid image URL" in refused(f"http://127.0.0.1:{server.port}/redirect?to=http://[::1")


@pytest.mark.parametrize("url", ["http://[::1", "http://", "ftp://example.com/a.png"])
def test_malformed_urls_are_a_clear_error(private_refused, url):
    assert "Invalid image URL" in refused(url)


def test_size_limit(server, private_allowed, settings):
    settings.IMAGE_FETCH_MAX_BYTES = 50 * 1024
    assert "larger than 51200 bytes" in refused(f"http://127.0.0.1:{server.port}/declared-large.png")
    assert "larger than 51200 bytes" in refused(f"http://127.0.0.1:{server.port}/endless.png")


def test_errors_name_the_status_or_the_content_type(server, private_allowed):
    assert "HTTP 404" in refused(f"http://127.0.0.1:{server.port}/missing.png")
    assert "not an image" in refused(f"http://127.0.0.1:{server.port}/page.html")


# --- https: pinned address, the URL's name in SNI and in the certificate check -----------------


@pytest.fixture(scope="module")
def tls():
    """A CA, a certificate for images.test signed by it, and the contexts to serve and trust it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ollamaweb test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "images.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("images.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    seen_sni = []
    server_context.sni_callback = lambda sock, name, ctx: seen_sni.append(name)
    import tempfile

    with tempfile.NamedTemporaryFile("wb", suffix=".pem") as chain:
        chain.write(leaf.public_bytes(pem))
        chain.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        chain.flush()
        server_context.load_cert_chain(chain.name)
    client_context = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server_context, client_context, seen_sni


@pytest.fixture
def tls_server(tls, monkeypatch):
    server_context, client_context, seen_sni = tls
    seen_sni.clear()
    monkeypatch.setattr(images, "TLS_VERIFY", client_context)
    s = ImageServer(server_context)
    yield s, seen_sni
    s.close()


def test_https_connects_to_the_vetted_address_with_the_urls_name_in_sni_and_host(
    tls_server, private_refused, loopback_counts_as_public, monkeypatch
):
    server, seen_sni = tls_server
    resolver = Resolver(monkeypatch, {"images.test": ["127.0.0.1"]})
    assert base64.b64decode(fetch(f"https://images.test:{server.port}/cat.png")) == PNG
    assert resolver.calls == {"images.test": 1}
    assert seen_sni == ["images.test"]
    assert server.requests == [("/cat.png", f"images.test:{server.port}")]


def test_https_certificate_is_checked_against_the_urls_name(
    tls_server, private_refused, loopback_counts_as_public, monkeypatch
):
    server, _ = tls_server
    Resolver(monkeypatch, {"other.test": ["127.0.0.1"]})
    assert "ConnectError" in refused(f"https://other.test:{server.port}/cat.png")  # certificate is for images.test
    assert server.requests == []


# --- through /v1 ---------------------------------------------------------------------------------


def test_v1_chat_with_a_rebinding_image_host_is_a_400_and_reaches_nothing(
    client, fake_ollama, server, private_refused, settings, monkeypatch
):
    settings.IMAGE_FETCH_TIMEOUT = 1.0
    resolver = Resolver(monkeypatch, {"rebind.test": lambda call: ["93.184.216.34" if call == 1 else "127.0.0.1"]})
    url = f"http://rebind.test:{server.port}/cat.png"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="llama3",
            messages=[{"role": "user", "content": [{"type": "text", "text": "what is it?"}, image_part(url)]}],
        )
    assert caught.value.body["param"] == PARAM and caught.value.body["code"] == "invalid_image_url"
    assert url not in caught.value.body["message"]
    assert resolver.calls == {"rebind.test": 1}
    assert server.requests == [] and fake_ollama.counts_for("/api/chat") == 0


def test_v1_chat_refuses_an_image_on_a_private_address(client, fake_ollama, server, private_refused):
    url = f"http://127.0.0.1:{server.port}/cat.png"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="llama3",
            messages=[{"role": "user", "content": [{"type": "text", "text": "what is it?"}, image_part(url)]}],
        )
    assert "private address" in caught.value.body["message"] and caught.value.body["param"] == PARAM
    assert server.requests == [] and fake_ollama.counts_for("/api/chat") == 0


def image_part(url):
    return {"type": "image_url", "image_url": {"url": url}}
