"""What the pipeline needs from a client-facing protocol (implemented in compat/)."""

from django.http import HttpResponse

from ollamaweb.core.errors import GatewayError

from .auth import authenticate, bearer_secret


class Protocol:
    """How one protocol presents credentials and shapes errors; one instance per protocol."""

    name = ""
    missing_key_hint = "Send it in an Authorization header (Authorization: Bearer sk-...)."

    def credentials(self, request) -> str:
        """The secret the client presented, or ""."""
        return bearer_secret(request)

    async def authenticate(self, request):
        return await authenticate(self.credentials(request), self.missing_key_hint)

    def error_response(self, error: GatewayError) -> HttpResponse:
        raise NotImplementedError

    def stream_error(self, error: GatewayError) -> bytes:
        """The in-stream form of an error, for failures after output has started."""
        raise NotImplementedError
