"""`ollama pull` through the gateway: progress folding, the terminal display, and server-side jobs.

Ollama's /api/pull streams NDJSON progress lines ({status, digest?, total?, completed?}, or
{error}). fold_progress() turns them, one at a time, into a state dict — the only parser of
those lines; the `pull` command draws that state on the terminal, and the admin's PullJob tasks
store it in their row for the browser.
"""

import asyncio
import contextvars
import inspect
import logging
import time
import uuid

from django.utils import timezone

from ollamaweb.core.errors import GatewayError

from .config import BackendConfig, config_of
from .models import PullJob
from .operations import changed_in_this_process, error_text, human_size, refresh_models, short_digest

logger = logging.getLogger(__name__)

WRITE_INTERVAL = 0.5  # seconds between progress writes of a job
HEARTBEAT_INTERVAL = 30.0  # seconds between writes while Ollama says nothing (so the job is not "stalled")


# --- Progress folding (pure) -------------------------------------------------------------------


def initial_state() -> dict:
    return {"status": "", "layers": [], "completed": 0, "total": 0, "percent": None, "done": False, "error": None}


def fold_progress(state: dict, line: dict) -> dict:
    """The pull's state after one progress line (a new dict; `state` is left as it was).

    state: status (Ollama's last status text), layers ([{digest, total, completed}] in the order
    first seen), completed/total (bytes over all layers), percent (of bytes, None before any
    layer; 100 on success), done (Ollama said "success"), error (Ollama's error text).
    """
    state = {**state, "layers": [dict(layer) for layer in state.get("layers", ())]}
    if not isinstance(line, dict):
        return state
    if line.get("error") is not None:
        state["error"] = str(line["error"])
        return state
    status = line.get("status")
    if isinstance(status, str) and status:
        state["status"] = status
    total = line.get("total")
    if isinstance(total, int | float) and total > 0:
        key = line.get("digest") or status or "layer"
        completed = min(max(int(line.get("completed") or 0), 0), int(total))  # "completed" is omitted while 0
        for layer in state["layers"]:
            if layer["digest"] == key:
                layer.update(total=int(total), completed=completed)
                break
        else:
            state["layers"].append({"digest": key, "total": int(total), "completed": completed})
    if status == "success":
        state["done"] = True
    state["completed"] = sum(layer["completed"] for layer in state["layers"])
    state["total"] = sum(layer["total"] for layer in state["layers"])
    if state["done"]:
        state["percent"] = 100.0
    elif state["total"]:
        state["percent"] = round(100.0 * state["completed"] / state["total"], 1)
    return state


def layer_percent(layer: dict) -> float:
    return 100.0 * layer["completed"] / layer["total"] if layer.get("total") else 0.0


class PullFailed(Exception):
    def __init__(self, message: str, state: dict):
        super().__init__(message)
        self.message = message
        self.state = state


async def pull(target: BackendConfig, model: str, on_progress=None) -> dict:
    """Pull `model` on the backend, calling on_progress(state) (sync or async) after every line.

    Returns the final state; raises PullFailed with Ollama's message (an `{"error"}` line, an
    HTTP error, an unreachable backend, or a stream that ends without "success").
    """
    state = initial_state()

    async def report():
        if on_progress is not None:
            result = on_progress(state)
            if inspect.isawaitable(result):
                await result

    try:
        async with target.client().stream("/api/pull", {"model": model, "stream": True}) as lines:
            async for line in lines:
                state = fold_progress(state, line)
                await report()
                if state["error"]:
                    break
    except GatewayError as exc:
        state = fold_progress(state, {"error": error_text(exc)})
        await report()
    if not state["error"] and not state["done"]:
        state = fold_progress(state, {"error": "the backend ended the pull without reporting success"})
        await report()
    if state["error"]:
        raise PullFailed(state["error"], state)
    return state


# --- The terminal ------------------------------------------------------------------------------


def layer_line(layer: dict, width: int = 25) -> str:
    percent = layer_percent(layer)
    filled = int(width * percent / 100)
    bar = "#" * filled + "." * (width - filled)
    sizes = f"{human_size(layer['completed'])}/{human_size(layer['total'])}"
    return f"pulling {short_digest(layer['digest'])} {percent:3.0f}% [{bar}] {sizes}"


class TerminalProgress:
    """Draws a pull's state like `ollama pull`: status lines, one progress bar per layer.

    On a terminal the bars of the current layers are redrawn in place (at most 10 times a
    second); otherwise (a pipe, a log file) a layer's line is printed when it appears, at each
    further 10 %, and when it completes.
    """

    def __init__(self, write, tty: bool, clock=time.monotonic):
        self.write = write  # write(text) without an added newline
        self.tty = tty
        self.clock = clock
        self.status = ""
        self.block: list[str] = []  # layer digests drawn in the live block (tty)
        self.block_lines = 0
        self.shown: dict[str, int] = {}  # digest → last 10 % step printed (not tty)
        self.last_draw = 0.0

    def __call__(self, state: dict):
        layers = {layer["digest"]: layer for layer in state["layers"]}
        status = state["status"]
        is_layer_status = status in layers or any(status == f"pulling {short_digest(d)}" for d in layers)
        if self.tty:
            self._tty(state, layers, status, is_layer_status)
        else:
            self._plain(state, layers, status, is_layer_status)

    def _plain(self, state, layers, status, is_layer_status):
        for digest, layer in layers.items():
            step = int(layer_percent(layer) // 10)
            if self.shown.get(digest) != step:
                self.shown[digest] = step
                self.write(layer_line(layer) + "\n")
        if status and status != self.status and not is_layer_status:
            self.write(status + "\n")
        self.status = status

    def _tty(self, state, layers, status, is_layer_status):
        if status and status != self.status and not is_layer_status:
            self._draw(layers, force=True)
            self.block, self.block_lines = [], 0
            self.write(status + "\n")
        else:
            for digest in layers:
                if digest not in self.block and digest not in self.shown:
                    self.block.append(digest)
                    self.shown[digest] = 0
            self._draw(layers, force=bool(state["done"] or state["error"]))
        self.status = status

    def _draw(self, layers, force=False):
        if not self.block or (not force and self.clock() - self.last_draw < 0.1):
            return
        self.last_draw = self.clock()
        up = f"\x1b[{self.block_lines}A" if self.block_lines else ""
        lines = "".join(f"\x1b[2K{layer_line(layers[d])}\n" for d in self.block if d in layers)
        self.write(up + lines)
        self.block_lines = len(self.block)

    def finish(self, state: dict):
        if self.tty:
            self._draw({layer["digest"]: layer for layer in state["layers"]}, force=True)


# --- Server-side jobs (the admin's "Pull model") ----------------------------------------------

_tasks: set[asyncio.Task] = set()  # strong references: the loop keeps only weak ones


async def create_jobs(model: str, targets: list[BackendConfig], user=None) -> uuid.UUID:
    """One PullJob per backend, in one batch; returns the batch id (the job page's address)."""
    batch = uuid.uuid4()
    for target in targets:
        await PullJob.objects.acreate(
            batch=batch,
            model=model,
            backend_id=target.db_id,
            backend_name=target.name,
            backend_url=target.url,
            created_by=user if user is not None and user.is_authenticated else None,
        )
    return batch


def start_batch(batch: uuid.UUID, job_ids: list[int]) -> None:
    """Start the jobs as tasks on the running loop (the server's): they outlive the request.

    Each task gets a fresh context: the request's would tie its database calls to the request's
    thread (asgiref's thread-sensitive executor), which goes away when the response is sent.
    """
    loop = asyncio.get_running_loop()
    for job_id in job_ids:
        task = loop.create_task(run_job(job_id), name=f"ollamaweb-pull-{job_id}", context=contextvars.Context())
        _tasks.add(task)
        task.add_done_callback(_job_done)


def _job_done(task: asyncio.Task) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("pull task %s failed", task.get_name(), exc_info=task.exception())


async def start_jobs(model: str, targets: list[BackendConfig], user=None) -> uuid.UUID:
    batch = await create_jobs(model, targets, user)
    start_batch(batch, [job.pk async for job in PullJob.objects.filter(batch=batch)])
    return batch


def progress_fields(state: dict) -> dict:
    return {
        "message": (state["status"] or "")[:300],
        "layers": state["layers"],
        "percent": state["percent"],
    }


async def _update(job_id: int, **fields) -> None:
    await PullJob.objects.filter(pk=job_id).aupdate(updated_at=timezone.now(), **fields)


class JobRecorder:
    """Writes a job's progress to its row at most every `interval` seconds."""

    def __init__(self, job_id: int, interval: float = WRITE_INTERVAL, clock=time.monotonic):
        self.job_id = job_id
        self.interval = interval
        self.clock = clock
        self.last_write = None
        self.writes = 0
        self.state = initial_state()

    async def __call__(self, state: dict):
        self.state = state
        now = self.clock()
        if self.last_write is None or now - self.last_write >= self.interval:
            self.last_write = now
            self.writes += 1
            await _update(self.job_id, **progress_fields(state))


async def _heartbeat(job_id: int, interval: float):
    while True:
        await asyncio.sleep(interval)
        await _update(job_id)


async def run_job(job_id: int, interval: float = WRITE_INTERVAL) -> None:
    """Run one PullJob to its end, keeping its row up to date; never raises (but is cancellable)."""
    try:
        job = await PullJob.objects.select_related("backend").aget(pk=job_id)
    except PullJob.DoesNotExist:
        return
    if job.backend is not None:
        target = config_of(job.backend)
    else:
        target = BackendConfig(name=job.backend_name, url=job.backend_url)
    await _update(job_id, status=PullJob.RUNNING, started_at=timezone.now(), message="starting")
    recorder = JobRecorder(job_id, interval)
    heartbeat = asyncio.get_running_loop().create_task(_heartbeat(job_id, HEARTBEAT_INTERVAL))
    try:
        state = await pull(target, job.model, recorder)
    except PullFailed as exc:
        heartbeat.cancel()
        logger.warning("pull of %s on %s failed: %s", job.model, target.name, exc.message)
        await _update(
            job_id, status=PullJob.ERROR, error=exc.message, finished_at=timezone.now(), **progress_fields(exc.state)
        )
    except asyncio.CancelledError:
        heartbeat.cancel()
        try:
            await _update(
                job_id,
                status=PullJob.INTERRUPTED,
                error="The server stopped during the pull; start it again.",
                finished_at=timezone.now(),
                **progress_fields(recorder.state),
            )
        except Exception:
            logger.warning("could not mark pull job %s as interrupted", job_id)
        raise
    except Exception as exc:  # a bug or the database: the row must not stay "running"
        heartbeat.cancel()
        logger.exception("pull job %s failed", job_id)
        await _update(job_id, status=PullJob.ERROR, error=f"Internal error: {exc}", finished_at=timezone.now())
    else:
        heartbeat.cancel()
        await _update(job_id, status=PullJob.SUCCESS, finished_at=timezone.now(), **progress_fields(state))
        await after_change(target)


async def after_change(target: BackendConfig) -> None:
    """A model appeared or went away on `target`: tell this process's registry (its health checker
    refreshes the model lists) and record the backend's models on its row at once, for the admin."""
    changed_in_this_process()
    try:
        await refresh_models(target)
    except Exception:
        logger.warning("could not refresh the models of backend %s", target.name, exc_info=True)


def job_payload(job: PullJob) -> dict:
    """What the job page shows of a job (the same for the first render, the SSE stream and JSON)."""
    status = job.effective_status
    layers = [
        {
            "id": short_digest(layer.get("digest", "")),
            "completed": layer.get("completed", 0),
            "total": layer.get("total", 0),
            "percent": round(layer_percent(layer), 1),
            "sizes": f"{human_size(layer.get('completed', 0))} / {human_size(layer.get('total', 0))}",
        }
        for layer in job.layers or ()
    ]
    error = job.error
    if status == PullJob.STALLED:
        error = error or "No progress for over 2 minutes: the server process running this pull has probably stopped."
    return {
        "id": job.pk,
        "backend": job.backend_name,
        "model": job.model,
        "status": status,
        "message": job.message,
        "percent": job.percent,
        "layers": layers,
        "error": error,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "updated_at": job.updated_at.isoformat() if job.updated_at else None,
        "finished": job.finished,
    }


async def batch_payload(batch: uuid.UUID) -> list[dict]:
    return [job_payload(job) async for job in PullJob.objects.filter(batch=batch).order_by("backend_name", "pk")]
