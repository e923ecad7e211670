"""A client that signs requests exactly as the Ollama CLI does with OLLAMA_AUTH=1.

Transcribed from ollama/ollama (v0.33.0-rc2, commit fb30760):

- api/client.go, `do` and `stream`:
      now := strconv.FormatInt(time.Now().Unix(), 10)
      chal := fmt.Sprintf("%s,%s?ts=%s", method, path, now)
      token, err = getAuthorizationToken(ctx, chal)      // auth.Sign(ctx, []byte(chal))
      q := requestURL.Query(); q.Set("ts", now); requestURL.RawQuery = q.Encode()
      ...
      request.Header.Set("Authorization", token)
  where `path` is the API path ("/api/chat", "/" for the heartbeat), not the URL's full path.
- auth/auth.go, `Sign`: reads ~/.ollama/id_ed25519 (OpenSSH private key), takes the second
  space-separated field of ssh.MarshalAuthorizedKey(publicKey) (the base64 wire form), signs the
  bytes with the ssh.Signer (for ed25519: plain ed25519 over the bytes; the signature's Blob is the
  64 raw bytes) and returns "<pubkey base64>:<std base64 of the signature blob>".
"""

import base64
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def make_ollama_home(home: Path) -> Path:
    """Create `home/.ollama/id_ed25519` (+ .pub) as `ollama serve` does on first start; the .pub path."""
    folder = home / ".ollama"
    folder.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    (folder / "id_ed25519").write_bytes(pem)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    (folder / "id_ed25519.pub").write_bytes(public + b"\n")
    return folder / "id_ed25519.pub"


def sign(home: Path, data: bytes) -> str:
    """auth.Sign: `<public key base64>:<signature base64>` with the key in home/.ollama/id_ed25519."""
    private_key = serialization.load_ssh_private_key((home / ".ollama" / "id_ed25519").read_bytes(), password=None)
    authorized_key = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    parts = authorized_key.split(b" ")
    signature = private_key.sign(data)
    return f"{parts[1].strip().decode()}:{base64.b64encode(signature).decode()}"


def signed_headers(home: Path, method: str, path: str, now: int | None = None) -> tuple[dict, dict]:
    """(query params, headers) the CLI adds to a request of `method` on the API path `path`."""
    now = int(time.time()) if now is None else now
    token = sign(home, f"{method},{path}?ts={now}".encode())
    return {"ts": str(now)}, {"Authorization": token}


class OllamaCLIAuth(httpx.Auth):
    """httpx auth that signs each request as the CLI does; `base_path` is OLLAMA_HOST's path, if any.

    Usable with ollama-python: `ollama.Client(host=..., auth=OllamaCLIAuth(home))` (its extra
    keyword arguments go to httpx).
    """

    def __init__(self, home: Path, base_path: str = "", clock=time.time):
        self.home = home
        self.base_path = base_path.rstrip("/")
        self.clock = clock

    def auth_flow(self, request: httpx.Request):
        path = request.url.path
        if self.base_path and path.startswith(self.base_path):
            path = path[len(self.base_path) :] or "/"
        params, headers = signed_headers(self.home, request.method, path, int(self.clock()))
        request.url = request.url.copy_merge_params(params)
        request.headers.update(headers)
        yield request
