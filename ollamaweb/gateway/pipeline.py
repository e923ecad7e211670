"""The request pipeline every protocol uses.

authenticate → parse (the protocol's view) → resolve alias, check the key's allow-list → admit
(quota reservation) → choose a backend (failover) → call or relay → settle → log.

One `Pipeline` serves one request. It speaks Ollama's native API to the backends and knows nothing
of any client protocol: views hand it a `Generation` and, for streams, a protocol's stream
translator; errors are raised as `ollamaweb.core.errors` and shaped by the protocol.
"""

import asyncio
import logging

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from ollamaweb.backends.registry import registry
from ollamaweb.catalog.aliases import alias_table
from ollamaweb.core.errors import (
    BackendBusy,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    GatewayError,
    InvalidRequest,
    LimitReached,
    NotFound,
    PermissionDenied,
    RequestTooLarge,
    Unavailable,
)
from ollamaweb.core.names import canonical
from ollamaweb.core.native import Accumulator, usage_of
from ollamaweb.core.streams import gather_or_cancel
from ollamaweb.core.tasks import CancelledAfterward, spawn
from ollamaweb.core.versions import adapt_request, adapt_result, has, required_features
from ollamaweb.metrics import tracing
from ollamaweb.quotas import limiter
from ollamaweb.quotas.policy import Payer
from ollamaweb.teams.policy import model_allowed, team_directory, team_for
from ollamaweb.usage.models import RequestLog
from ollamaweb.usage.records import UsageRecord
from ollamaweb.usage.writer import log_writer

from .estimate import prompt_estimate
from .generation import Generation
from .gpu_time import Rates, gpu_rates
from .images import inline_remote_images
from .relay import EARLY_END, relay
from .setup_gate import NO_TICKET

logger = logging.getLogger(__name__)

# Failures that happen before the backend answered anything: another backend may serve the request.
RETRY_ON_ANOTHER_BACKEND = (BackendUnavailable, BackendBusy, BackendTimeout)

MAX_COMPLETION_BUDGET = 2**31 - 1  # keeps reservations within every store's integers
# Reservations tried with a shrinking completion budget before a refusal stands (others may take
# what remained between two tries).
ADMISSION_ATTEMPTS = 5
# How Ollama refuses `think` for a model without the thinking capability.
THINK_UNSUPPORTED = "does not support thinking"

INVALID_JSON = "We could not parse the JSON body of your request: it must be a valid JSON object."
PARSE_OFF_LOOP_BYTES = 256 * 1024
MAX_JSON_DEPTH = 64  # deeper bodies (tool schemas included) are refused, not crashed on


def parse_json(body: bytes):
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest(INVALID_JSON, code="invalid_json") from None
    # Each level opens a bracket: a body with few brackets cannot be too deep (counted in C).
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _deeper_than(value, MAX_JSON_DEPTH):
        raise InvalidRequest(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.", code="invalid_json")
    return value


def _deeper_than(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item if isinstance(child, dict | list))
    return False


def _too_large() -> RequestTooLarge:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return RequestTooLarge(f"The request body is larger than this server's limit of {limit:,} bytes.")


def _image_count(payload: dict) -> int:
    return len(payload.get("images") or ()) + sum(len(m.get("images") or ()) for m in payload.get("messages") or ())


def _num_predict(payload: dict, default: int) -> int:
    value = (payload.get("options") or {}).get("num_predict")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def _room(refusal: limiter.LimitExceeded, prompt: int, rates: Rates, calls: int) -> int | None:
    """The completion tokens that fit in what the refusing token or GPU-time quota has left
    (None: the refusal was not such a quota)."""
    if refusal.remaining is None:
        return None
    if refusal.limit.startswith("gpu"):
        return rates.output_tokens_within(refusal.remaining, prompt, calls)
    return refusal.remaining - prompt


def _how_to_fit(room: int, prompt: int, refusal: limiter.LimitExceeded) -> str:
    if room < 1:
        needs = f"about {prompt} tokens" if not refusal.limit.startswith("gpu") else "more GPU time than remains"
        return f" This prompt needs {needs}: shorten it, or wait until the quota resets."
    return f" Ask for at most {room} completion tokens (max_tokens) to fit."


class Call:
    """One backend call of a non-streaming request, and how far it got."""

    def __init__(self, payload: dict, prompt_estimate: int):
        self.payload = payload
        self.prompt_estimate = prompt_estimate
        self.reset()

    def reset(self):
        self.started = False  # the request was sent to a backend
        self.progress = Accumulator()

    def charge_unfinished(self, record):
        """What a call the client abandoned cost: its prompt (estimated) and the tokens generated."""
        if self.started and not self.progress.done:
            source = RequestLog.UsageSource.COUNTED if self.progress.pieces else RequestLog.UsageSource.ESTIMATED
            record.add_usage(self.prompt_estimate, self.progress.pieces, source)


class Pipeline:
    def __init__(self, request, protocol, endpoint: str):
        self.request = request
        self.protocol = protocol
        self.identity = None
        self.team = None  # the team charged (teams.policy.team_for), once authenticated
        self.record = UsageRecord(endpoint=endpoint, method=request.method)
        self.stream_owns_record = False  # a started stream settles its own record when it ends
        self.calls = 1  # backend calls the request makes (n choices: several)
        self._body = self._body_error = None
        self.backend_call = None  # the current attempt on a backend (tracing.BackendCall)
        self.setup = NO_TICKET  # the view's place in setup_gate.py, given up once admitted
        tracing.start_request(self.record, getattr(protocol, "name", ""), request.headers)

    # -- authenticate, parse ---------------------------------------------------------------

    async def authenticate(self):
        self.identity = identity = await self.protocol.authenticate(self.request)
        self.team = team_for(identity, await team_directory.get())
        self.record.user_id = identity.user_id
        self.record.key_id = identity.key_id
        self.record.key_prefix = identity.prefix
        self.record.team_id = self.team.id if self.team is not None else None
        return identity

    @property
    def payer(self) -> Payer:
        identity = self.identity
        team_id = self.team.id if self.team is not None else None
        return Payer(identity.user_id, identity.key_id, team_id, team_key=identity.team_id is not None)

    async def read_body(self):
        """Parse the JSON body ahead of the view (large ones in a worker thread, so one big request
        does not stall the others); `json_body()` then hands it over, or raises its error. From
        here the pipeline holds nothing of the request: a stream open for minutes keeps none of it."""
        request, self.request = self.request, None
        try:
            body = request.body
        except RequestDataTooBig:
            self._body_error = _too_large()
            return
        if not body:  # most GETs: nothing to parse (json_body() refuses it if asked)
            return
        try:
            self._body = (
                await asyncio.to_thread(parse_json, body) if len(body) > PARSE_OFF_LOOP_BYTES else parse_json(body)
            )
        except GatewayError as exc:
            self._body_error = exc

    def json_body(self):
        """The parsed body, handed over (the pipeline keeps no reference to it), or its error."""
        if self._body_error is not None:
            raise self._body_error
        body, self._body = self._body, None
        if body is None:
            raise InvalidRequest(INVALID_JSON, code="invalid_json")
        return body

    # -- resolve ---------------------------------------------------------------------------

    def check_model_allowed(self, requested: str):
        allowed = self.identity.allowed_models
        if allowed and canonical(requested) not in {canonical(name) for name in allowed}:
            raise PermissionDenied(f"This API key is not allowed to use the model '{requested}'.")

    def check_team_allows(self, requested: str, target: str):
        """The team the request is charged to (teams.policy.team_for) must allow the model or its alias."""
        team = self.team
        if not model_allowed(team, requested, target):
            raise PermissionDenied(f"Your team {team.name} is not allowed to use the model '{requested}'.")

    async def resolve(self, requested: str) -> str:
        """The backend model for a requested name, after the key's allow-list check."""
        self.record.requested_model = requested
        self.check_model_allowed(requested)
        target = await alias_table.resolve(requested)
        self.check_team_allows(requested, target)
        self.record.resolved_model = target
        return target

    def model_not_found(self, requested: str) -> NotFound:
        return NotFound(f"The model '{requested}' does not exist or is not available.", param="model")

    # -- admit -----------------------------------------------------------------------------

    async def admit(self, model: str, tokens: int, gpu_ms: int = 0):
        """Reserve `tokens`, `gpu_ms` and request slots in the caller's quotas, or raise a 429 (or 503)."""
        try:
            return await self._reserve(model, tokens, gpu_ms)
        except limiter.LimitExceeded as exc:
            raise self._refused(exc) from None

    def _refused(self, exc: limiter.LimitExceeded) -> LimitReached:
        tracing.refused(self.record, exc.limit)
        return LimitReached(exc.message, code=exc.kind, retry_after=exc.retry_after, headers=exc.headers)

    async def _reserve(self, model: str, tokens: int, gpu_ms: int):
        """admit(), but a refusal is left as the quotas' LimitExceeded (what remains, of which limit)."""
        try:
            with tracing.stage(self.record, "admission"):
                self.record.admission = await limiter.admit(self.payer, model, tokens, gpu_ms)
        except CancelledAfterward as cancelled:  # the client left: its settlement gives this back
            self.record.admission = cancelled.result
            raise
        except limiter.QuotaStoreUnavailable:
            tracing.refused(self.record, "store_unavailable")
            raise Unavailable(
                "Quota accounting is unavailable, so requests are refused for now; try again shortly.",
                code="quota_store_unavailable",
            ) from None
        return self.record.admission

    async def admit_generation(self, generation: Generation, model: str):
        """Admit the calls' prompts plus their completion budgets, in tokens and in GPU time.

        When a token or GPU-time quota applies, each call's completion budget is sent to the
        backend as `num_predict` (QUOTA_DEFAULT_MAX_TOKENS when the client set none), so a request
        cannot outrun what it reserved; when less remains than asked, the budget shrinks to what
        is left, so a small quota still allows short answers. GPU time is estimated from the
        model's measured speed (gpu_time.py) and settled to what Ollama measured.
        """
        payloads = generation.payloads
        self.calls = calls = len(payloads)
        prompt = sum(prompt_estimate(generation.path, payload) for payload in payloads)
        rates = gpu_rates.for_model(model)
        default_budget = settings.QUOTA_DEFAULT_MAX_TOKENS if generation.generates else 0
        budget = min(max(_num_predict(payload, default_budget) for payload in payloads), MAX_COMPLETION_BUDGET)
        for attempt in range(ADMISSION_ATTEMPTS):  # each retry fits a tighter limit (tokens, GPU time; day, month)
            try:
                gpu_ms = rates.estimate(prompt, budget * calls, calls)
                admission = await self._reserve(model, prompt + budget * calls, gpu_ms)
                break
            except limiter.LimitExceeded as exc:
                room = _room(exc, prompt, rates, calls)
                shrinks = generation.generates and room is not None and calls <= room and room // calls < budget
                if not shrinks or attempt == ADMISSION_ATTEMPTS - 1:
                    refusal = self._refused(exc)
                    if room is not None and generation.generates:
                        refusal.message += _how_to_fit(room, prompt, exc)
                    raise refusal from None
                budget = room // calls
        if admission is not None and admission.caps_output and generation.generates:
            for payload in payloads:
                options = payload.get("options") or {}
                payload["options"] = {**options, "num_predict": min(budget, _num_predict(payload, budget))}

    # -- route -----------------------------------------------------------------------------

    async def on_backends(self, model: str, features, attempt):
        """`await attempt(backend)` on the best backend for `model`, and once more on the next one
        if the first refused the connection, was busy or timed out before answering, or lacks the
        model. Streams are retried only before their first event reached the client (relay returns
        after that event), so a client never sees output from two backends.
        """
        candidates = await registry.candidates(model, features)
        error = None
        for backend in candidates[:2]:
            backend.choosing += 1
            try:
                with tracing.backend_call(self.record, backend.name, model) as self.backend_call:
                    result = await attempt(backend)
            except RETRY_ON_ANOTHER_BACKEND as exc:
                backend.failed()
                error = exc
                continue
            except NotFound as exc:
                error = exc
                continue
            finally:
                backend.choosing -= 1
            backend.succeeded()
            self.record.backend = backend.name
            return result
        if isinstance(error, NotFound):
            raise self.model_not_found(self.record.requested_model or model)
        raise error or BackendUnavailable("No model backend is configured.")

    # -- the whole path for a generation or embedding ---------------------------------------

    async def _prepare(self, generation: Generation) -> str:
        self.record.stream = generation.stream
        self.record.client_user = generation.client_user
        model = await self.resolve(generation.model)
        for payload in generation.payloads:
            payload["model"] = model
        await self.admit_generation(generation, model)
        self.setup.leave()  # what follows waits for other servers (images, backends): not set-up
        images = sum(_image_count(payload) for payload in generation.payloads[:1])
        if images > settings.MAX_IMAGES:
            raise InvalidRequest(
                f"Too many images: {images} in one request; this server accepts at most {settings.MAX_IMAGES}.",
                code="too_many_images",
            )
        for payload in generation.payloads:
            if payload.get("messages"):
                await inline_remote_images(payload["messages"])
        return model

    async def complete(self, generation: Generation) -> list[dict]:
        """Run a non-streaming generation; the native results, in the order of the payloads.

        Generations are read from the backend as streams (and put together here), so if the
        client leaves before the end, the request is still charged for what the backend did.
        """
        model = await self._prepare(generation)
        calls = [Call(payload, prompt_estimate(generation.path, payload)) for payload in generation.payloads]

        async def attempt(backend):
            for call in calls:
                call.reset()
            return await gather_or_cancel(
                self._call(backend, generation.path, call, generation.think_optional) for call in calls
            )

        try:
            results = await self.on_backends(model, _features(generation), attempt)
        except asyncio.CancelledError:
            for call in calls:
                call.charge_unfinished(self.record)
            raise
        for result in results:
            self.record.add_usage(*usage_of(result))
            self.record.add_durations(result)
            self.backend_call.done(result)
        return results

    async def _call(self, backend, path: str, call: "Call", think_optional: bool = False) -> dict:
        sent = _adapt(call.payload, backend, think_optional)
        call.started = True  # from here the backend may be working on the prompt: leaving is not free
        if path == "/api/embed":
            return adapt_result(call.payload, sent, await backend.client.request("POST", path, sent))
        try:
            return await self._read(backend, path, call, sent)
        except InvalidRequest as exc:  # refused before any output
            if not (think_optional and thinking_unsupported(exc, sent)):
                raise
            return await self._read(backend, path, call, _without_think(sent))

    async def _read(self, backend, path: str, call: "Call", sent: dict) -> dict:
        async with backend.client.stream(path, {**sent, "stream": True}) as chunks:
            async for batch in chunks.batches():  # every chunk that arrived in one read
                call.progress.feed(batch)
        if not call.progress.done:
            raise BackendError(EARLY_END)
        return adapt_result(call.payload, sent, call.progress.result())

    async def stream(self, generation: Generation, translator):
        """Run a streaming generation; the streaming response, once its first bytes are ready."""
        model = await self._prepare(generation)
        estimate = prompt_estimate(generation.path, generation.payloads[0])

        async def attempt(backend):
            payloads = [_adapt(p, backend, generation.think_optional) for p in generation.payloads]
            try:
                response = await relay(self, backend.client, generation.path, payloads, translator, estimate)
            except InvalidRequest as exc:  # raised before any output reached the client
                if not (generation.think_optional and thinking_unsupported(exc, payloads[0])):
                    raise
                payloads = [_without_think(p) for p in payloads]
                response = await relay(self, backend.client, generation.path, payloads, translator, estimate)
            self.backend_call.keep_open()  # the relay closes it when the stream ends
            self.stream_owns_record = True
            return response

        return await self.on_backends(model, _features(generation), attempt)

    # -- settle, log -----------------------------------------------------------------------

    def settle(self, status: int, error: str = ""):
        """Close this request's usage record (once), free its quota slots, hand it to the log writer.

        Runs inside cancelled streams too, so it only schedules work and never awaits.
        """
        if not self.record.finish(status, error):
            return
        gpu_rates.learn(self.record, self.calls)
        if self.record.admission is not None and self.record.admission.holds_slots:
            spawn(limiter.release(self.record.admission))
        log_writer.submit(self.record)


# -- `think` as a preference (Generation.think_optional) ------------------------------------


def thinking_unsupported(error: InvalidRequest, sent: dict) -> bool:
    """Whether a backend refused a call only because its model cannot think."""
    return sent.get("think") not in (None, False) and THINK_UNSUPPORTED in error.message


def _without_think(payload: dict) -> dict:
    return {key: value for key, value in payload.items() if key != "think"}


def _features(generation: Generation) -> frozenset:
    payload = generation.payloads[0]
    return required_features(_without_think(payload) if generation.think_optional else payload)


def _adapt(payload: dict, backend, think_optional: bool) -> dict:
    """The payload for this backend; an optional `think` is left out where the version has none."""
    if think_optional and payload.get("think") not in (None, False) and not has(backend.version, "think"):
        payload = _without_think(payload)
    return adapt_request(payload, backend.version, backend.name)
