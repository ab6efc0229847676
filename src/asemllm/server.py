"""`asemllm serve`: the critic over HTTP (FastAPI on uvicorn), with one web page.

    GET  /              the page: drop or pick a photo, see the critique, saliency overlay, attributes
    GET  /health        {"status": "ok", "model", "queue": waiting, "busy": bool}
    POST /v1/critique   the photo as the raw body (Content-Type image/*) or multipart field `photo`;
                        optional ?aspects=a,b -> the critique record plus the overlay as base64
    GET  /openapi.json  the OpenAPI schema of these endpoints; GET /docs shows it (Swagger UI)

`workers` critiques run at once (one: a thread of this process; more: a process each, each loading
its own critic); at most `queue` more wait. Past that a request gets 503 with Retry-After at once,
so requests never pile up. Errors are one-line JSON {"error": ...}:
400 (not a usable image, a malformed request), 404/405 (no such path / method), 408 (the body
stalled), 411/413 (length missing / over the upload limit, judged from the headers before the body
is read), 503 (full), 504 (over the timeout), 500 (anything unexpected; the server stays up).

FastAPI, Starlette and uvicorn are imported when a server is made, not when this module is, so
importing it (as the CLI does) stays cheap.
"""

import asyncio
import base64
import io
import json
import math
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from concurrent.futures import wait as wait_futures
from pathlib import Path

CRITIQUE = "/v1/critique"
STALL_S = 30.0  # seconds a client may stall mid-body before its request is refused
RETRY_AFTER = {"Retry-After": "2"}


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}


class CritiqueService:
    """`workers` model workers, a bounded queue in front of them, and a timeout on each critique.

    One worker is a thread running `critic` in this process. More are processes (the critic's
    Python runs under the GIL, and processes use every core whatever holds it): `critic` is then a
    picklable function that loads one, e.g. `functools.partial(asemllm.load, "teacher")`, called
    once in each process, and each process's torch gets its share of the cores. A process that
    dies is replaced; the requests it held get 503."""

    def __init__(self, critic, queue: int = 4, timeout: float = 60.0, max_pixels: int = 50_000_000,
                 workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers {workers}: must be at least 1")
        if workers > 1 and (hasattr(critic, "critique") or not callable(critic)):
            raise ValueError("workers > 1 needs a function that loads the critic in each worker process "
                             "(e.g. functools.partial(asemllm.load, 'teacher')), not a loaded critic")
        self.critic, self.timeout, self.max_pixels, self.workers = critic, timeout, max_pixels, workers
        self._slots = threading.BoundedSemaphore(workers + max(0, queue))  # the running ones + the waiting ones
        self._lock = threading.Lock()
        self._admitted = 0
        self._busy = False
        if workers == 1:
            self._worker, self._name = ThreadPoolExecutor(max_workers=1, thread_name_prefix="critic"), None
        else:
            self._worker = _process_pool(critic, workers)
            self._name = _started(self._worker, workers)

    @property
    def model(self) -> str:
        if self._name:
            return self._name
        return getattr(self.critic, "name", type(self.critic).__name__)

    def health(self) -> dict:
        with self._lock:  # a process's start is not seen from here: as many run as are admitted, up to workers
            admitted = self._admitted
            running = int(self._busy) if self.workers == 1 else min(admitted, self.workers)
        return {"status": "ok", "model": self.model, "queue": max(0, admitted - running), "busy": running > 0}

    def submit(self, data: bytes, aspects=None, name: str | None = None) -> Future:
        """Queue one critique for the worker. An unusable image (ValueError) or a full queue (503)
        is refused here, at once, so nothing waits only to be turned away."""
        from .images import MIN_SIDE, _check_size

        _check_size("image", _probe(data), MIN_SIDE, self.max_pixels)  # cheap: header only, before queueing
        if not self._slots.acquire(blocking=False):
            raise HTTPError(503, "busy: the critique queue is full; retry shortly", RETRY_AFTER)
        with self._lock:
            self._admitted += 1
        try:
            future = self._submit(data, aspects, name)
        except RuntimeError:  # the worker was shut down
            self._release()
            raise HTTPError(503, "server is shutting down", RETRY_AFTER) from None
        future.add_done_callback(lambda _: self._release())  # the slot frees when the work ends, not the wait
        return future

    def critique(self, data: bytes, aspects=None, name: str | None = None) -> dict:
        """The critique record, waiting in this thread; 504 past the timeout."""
        future = self.submit(data, aspects, name)
        done, _ = wait_futures([future], timeout=self.timeout)
        if not done:
            raise self._timed_out()
        return self._outcome(future)

    async def acritique(self, data: bytes, aspects=None, name: str | None = None) -> dict:
        """`critique` for an event loop: the wait holds neither the loop nor a thread. A critique
        that times out keeps the worker until it ends, as in `critique`, so the queue stays honest."""
        future = self.submit(data, aspects, name)
        waiting = asyncio.wrap_future(future)
        done, _ = await asyncio.wait({waiting}, timeout=self.timeout)
        if not done:
            waiting.add_done_callback(_retrieve)  # its late outcome belongs to no one: do not log it
            raise self._timed_out()
        return self._outcome(waiting)

    def _timed_out(self) -> HTTPError:
        return HTTPError(504, f"the critique took longer than {self.timeout:g} s")

    def _submit(self, data: bytes, aspects, name) -> Future:
        if self.workers == 1:
            return self._worker.submit(self._run, data, aspects, name)
        pool = self._worker
        try:
            future = pool.submit(_critique_in_worker, data, aspects, name, self.max_pixels)
        except BrokenProcessPool:  # a worker died since the last request: a fresh pool takes this one
            pool = self._renew(pool)
            future = pool.submit(_critique_in_worker, data, aspects, name, self.max_pixels)
        future.add_done_callback(lambda f: _died(f) and self._renew(pool))
        return future

    def _renew(self, broken) -> "ProcessPoolExecutor":
        """A fresh process pool in place of `broken` (once, however many requests saw it break)."""
        with self._lock:
            if self._worker is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._worker = _process_pool(self.critic, self.workers)
            return self._worker

    def _outcome(self, future) -> dict:
        """The finished critique's record (or its exception); 503 when `close` dropped it unrun, or
        when its worker process died (the pool is renewed)."""
        if future.cancelled():
            raise HTTPError(503, "server is shutting down", RETRY_AFTER)
        try:
            return future.result()
        except BrokenProcessPool:  # its pool is renewed by then (see _submit)
            raise HTTPError(503, "a critic worker stopped and is being restarted; retry shortly", RETRY_AFTER) from None

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1
        self._slots.release()

    def _run(self, data: bytes, aspects, name) -> dict:
        with self._lock:
            self._busy = True
        try:
            return critique_upload(self.critic, data, aspects, name, self.max_pixels)
        finally:
            with self._lock:
                self._busy = False

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)


def critique_upload(critic, data: bytes, aspects, name, max_pixels: int) -> dict:
    """The uploaded photo's critique record, with its saliency overlay inline as base64."""
    from .images import MIN_SIDE, load_image

    photo = load_image(data, min_side=MIN_SIDE, max_pixels=max_pixels)
    with tempfile.TemporaryDirectory(prefix="asemllm-serve-") as tmp:
        result = critic.critique(photo, aspects=aspects, overlay_dir=tmp)
        overlay = result.get("saliency", {}).get("overlay")
        if overlay:
            result["overlay_png_base64"] = base64.b64encode(Path(overlay).read_bytes()).decode("ascii")
            result["overlay_mime"] = "image/jpeg" if overlay.endswith(".jpg") else "image/png"
            result["saliency"]["overlay"] = None  # a temporary path means nothing to the client
    result["image"] = name or "upload"
    return result


# ---------------------------------------------------------------- worker processes (--workers N > 1)

_CRITIC = None  # in a worker process: the critic its initializer loaded


def _process_pool(load, workers: int) -> "ProcessPoolExecutor":
    """`workers` spawned processes (not forked: the server has threads), each loading the critic
    once with `load()` and running torch on its share of the cores."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // workers)
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(load, threads))


def _start_worker(load, threads: int) -> None:
    global _CRITIC
    import torch

    torch.set_num_threads(threads)
    _CRITIC = load()


def _critique_in_worker(data: bytes, aspects, name, max_pixels: int) -> dict:
    return critique_upload(_CRITIC, data, aspects, name, max_pixels)


def _critic_name() -> str:
    time.sleep(0.2)  # held a moment, so that each of the first calls starts its own process
    return getattr(_CRITIC, "name", type(_CRITIC).__name__)


def _started(pool, workers: int) -> str:
    """Start every worker process (each loads its critic) -> the critic's name; one line naming
    the cause when they cannot start."""
    try:
        return [f.result() for f in [pool.submit(_critic_name) for _ in range(workers)]][0]
    except BrokenProcessPool as e:
        pool.shutdown(wait=False, cancel_futures=True)
        raise RuntimeError(f"the critic's worker processes did not start ({_one_line(e)}); see the error above") from None


def _died(future) -> bool:
    """Did this critique's worker process die under it?"""
    return not future.cancelled() and isinstance(future.exception(), BrokenProcessPool)


def _retrieve(future) -> None:
    if not future.cancelled():
        future.exception()


def _probe(data: bytes) -> tuple[int, int]:
    """The photo's (w, h) from its header alone; ValueError when it is not an image."""
    from PIL import Image

    if not data:
        raise ValueError("empty upload: no image data")
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError as e:
        raise ValueError(f"image: too many pixels ({' '.join(str(e).split())[:160]})") from None
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for junk
        raise ValueError("image: not an image (or a format Pillow cannot read)") from None


def _finite(x):
    """JSON without NaN/Infinity (browsers' JSON.parse rejects them)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _dumps(obj) -> bytes:
    return json.dumps(_finite(obj)).encode("utf-8")


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _aspects(values):
    if not values:
        return None
    from .critic.teacher import ASPECTS

    wanted = [a.strip() for v in values for a in v.split(",") if a.strip()]
    unknown = [a for a in wanted if a not in ASPECTS]
    if unknown:
        raise HTTPError(400, f"unknown aspects {unknown}; choose from {list(ASPECTS)}")
    return wanted or None


# ---------------------------------------------------------------- the upload guard (plain ASGI)

class UploadGuard:
    """ASGI middleware in front of the app. It judges a critique upload by its headers before a
    byte of the body is read (411 without a Content-Length, 413 over the limit), refuses a body
    that stalls or outgrows its Content-Length, and sends `Connection: close` with any answer that
    leaves a request body unread, so that body is never read. Every answer gets no-store/nosniff."""

    def __init__(self, app, max_upload: int, stall: float = STALL_S):
        self.app, self.max_upload, self.stall = app, max_upload, stall

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = _Body(receive, headers, self.stall)
        send = _answer_headers(send, body)
        if scope["method"] == "POST" and scope["path"] == CRITIQUE:
            refusal = _length_refusal(headers, self.max_upload)
            if refusal is not None:
                return await _send_json(send, refusal.status, {"error": str(refusal)}, refusal.headers)
        await self.app(scope, body.receive, send)


def _length_refusal(headers: dict, max_upload: int) -> HTTPError | None:
    """Why an upload with these headers is refused before its body is read; None when it is not."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return HTTPError(411, "send the photo with a Content-Length (chunked bodies are not accepted)")
    raw = headers.get("content-length")
    if raw is None:
        return HTTPError(411, "a Content-Length header is required")
    try:
        length = int(raw)
    except ValueError:
        return HTTPError(411, f"Content-Length {raw!r} is not a whole number")
    if length < 0:
        return HTTPError(400, f"negative Content-Length {length}")
    if length > max_upload:
        return HTTPError(413, f"upload of {length:,} bytes is over the {max_upload:,}-byte limit")
    return None


class _Body:
    """The request body as the app receives it: counted against its Content-Length, and refused
    (HTTPError, raised where the app awaits the body) when it stalls, ends early or runs long."""

    def __init__(self, receive, headers: dict, stall: float):
        self._receive, self.stall, self.read = receive, stall, 0
        raw = headers.get("content-length", "")
        self.declared = int(raw) if raw.isdigit() else None
        self.done = not (self.declared or "transfer-encoding" in headers)  # True: nothing (more) to read

    async def receive(self):
        if self.done:
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), self.stall)
        except asyncio.TimeoutError:
            raise HTTPError(408, f"the body stalled: {self.read:,} of {self._expected()} bytes came, then nothing "
                                 f"for {self.stall:g} s", {"Connection": "close"}) from None
        if message["type"] == "http.disconnect":
            raise HTTPError(400, f"body ended after {self.read:,} of {self._expected()} bytes")
        self.read += len(message.get("body", b""))
        self.done = not message.get("more_body", False)
        if self.declared is not None and self.read > self.declared:
            raise HTTPError(400, f"body is longer than its Content-Length of {self.declared:,} bytes")
        if self.done and self.declared is not None and self.read < self.declared:
            raise HTTPError(400, f"body ended after {self.read:,} of {self.declared:,} bytes")
        return message

    def _expected(self) -> str:
        return "?" if self.declared is None else f"{self.declared:,}"


def _answer_headers(send, body: _Body):
    """`send` that adds the common headers, and `Connection: close` while the body is unread."""
    async def sender(message):
        if message["type"] == "http.response.start":
            extra = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
            if not body.done:
                extra.append((b"connection", b"close"))
            names = {k.lower() for k, _ in message.get("headers", [])}
            message = {**message, "headers": [*message.get("headers", []), *(h for h in extra if h[0] not in names)]}
        await send(message)
    return sender


async def _send_json(send, status: int, obj, headers: dict | None = None) -> None:
    body = _dumps(obj)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------- the app

def _json(status: int, obj, headers: dict | None = None):
    from starlette.responses import Response

    return Response(_dumps(obj), status_code=status, media_type="application/json", headers=headers)


def _describe(e: Exception) -> tuple[int, str, dict]:
    """(status, one-line message, headers) for an exception raised while answering a request."""
    if isinstance(e, HTTPError):
        return e.status, _one_line(e), e.headers
    status = getattr(e, "status_code", None)
    if isinstance(status, int) and hasattr(e, "detail"):  # Starlette's HTTPException, e.g. a malformed form
        return status, _one_line(e.detail), dict(getattr(e, "headers", None) or {})
    if isinstance(e, ValueError):  # the image's fault: one line naming the problem
        return 400, _one_line(e), {}
    return 500, f"internal error: {_one_line(f'{type(e).__name__}: {e}')[:300]}", {}


def _error(e: Exception, quiet: bool = False):
    status, message, headers = _describe(e)
    if status == 500 and not quiet:
        sys.stderr.write(f"asemllm: 500: {message}\n")
    return _json(status, {"error": message}, headers)


async def _photo(request, max_upload: int) -> tuple[bytes, str | None]:
    """The uploaded photo and its file name: the raw body, or the multipart form's photo."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return await request.body(), None
    async with request.form(max_part_size=max_upload) as form:
        return await _form_photo(form)


async def _form_photo(form) -> tuple[bytes, str | None]:
    """The `photo` field of a form or, failing that, its only file under whatever field name."""
    fields = form.getlist("photo")
    if not fields:
        fields = [v for _, v in form.multi_items() if not isinstance(v, str)]
        if len(fields) != 1:
            raise HTTPError(400, "multipart/form-data body has no 'photo' field")
    photo = fields[0]
    if isinstance(photo, str):  # a plain field, decoded as text: only a file part keeps a photo's bytes intact
        return photo.encode("utf-8"), None
    return await photo.read(), photo.filename


def make_app(critic, max_upload_mb: float = 20, max_pixels: int = 50_000_000, timeout: float = 60,
             queue: int = 4, quiet: bool = False, stall: float = STALL_S, workers: int = 1):
    """The FastAPI app behind `asemllm serve`; `app.state.service` is its CritiqueService.
    `stall`: seconds a client may pause mid-upload before its request is refused (408). With
    `workers` > 1, `critic` is a function that loads the critic (see CritiqueService)."""
    from fastapi import FastAPI

    from . import __version__

    service = CritiqueService(critic, queue=queue, timeout=timeout, max_pixels=max_pixels, workers=workers)
    max_upload = int(max_upload_mb * 1024 * 1024)
    app = FastAPI(title="asemllm", version=__version__, redoc_url=None,
                  description=f"Aesthetic critiques of photos: {workers} at a time, a bounded queue, "
                              "one-line JSON errors `{\"error\": ...}`.")
    app.state.service = service
    app.add_middleware(UploadGuard, max_upload=max_upload, stall=stall)
    _add_error_handlers(app, quiet)
    _add_routes(app, service, max_upload, quiet)
    return app


def _add_error_handlers(app, quiet: bool) -> None:
    """Starlette's 404/405, FastAPI's validation errors and anything else in the one-line JSON shape."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def http_error(request, exc):
        if exc.status_code == 404:
            exc = HTTPException(404, f"no such path: {request.url.path}", exc.headers)
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            exc = HTTPException(405, f"{request.method} is not allowed on {request.url.path} (allowed: {allowed})",
                                exc.headers)
        return _error(exc, quiet)

    async def invalid(request, exc):
        problems = "; ".join(f"{'.'.join(map(str, err.get('loc', ())))}: {err.get('msg')}" for err in exc.errors())
        return _error(HTTPError(400, f"invalid request: {problems}"), quiet)

    async def unexpected(request, exc):
        return _error(exc, quiet)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, unexpected)


def _add_routes(app, service: CritiqueService, max_upload: int, quiet: bool) -> None:
    from fastapi import Request
    from fastapi.responses import HTMLResponse

    async def page():
        return HTMLResponse(PAGE)

    async def health():
        return _json(200, service.health())

    async def critique(request: Request):
        try:
            data, name = await _photo(request, max_upload)
            aspects = _aspects(request.query_params.getlist("aspects"))
            t0 = time.perf_counter()
            result = await service.acritique(data, aspects=aspects, name=name)
        except Exception as e:  # noqa: BLE001 - never let one request take the server down
            return _error(e, quiet)
        result.setdefault("timings", {})["server"] = round(time.perf_counter() - t0, 3)
        return _json(200, result)

    for path in ("/", "/index.html"):
        app.add_api_route(path, page, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route("/health", health, methods=["GET"], summary="Is the server up, and how busy?",
                      responses={200: {"description": "the server is up", "content": {"application/json": {
                          "schema": HEALTH_SCHEMA}}}})
    app.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)
    app.add_api_route(CRITIQUE, critique, methods=["POST"], summary="Critique a photo",
                      description=CRITIQUE_DOC, responses=_critique_responses(),
                      openapi_extra=_critique_request(max_upload))


# ---------------------------------------------------------------- the OpenAPI description

CRITIQUE_DOC = """The photo's critique by aspect, with its measured attributes, the claims each
aspect makes and whether the measurements back them, where the eye goes (saliency peak), and the
saliency overlay as base64. As many critiques run at once as the server has workers; a few wait;
past that the answer is 503 with Retry-After. The upload is judged by its Content-Length before it is read."""

HEALTH_SCHEMA = {"type": "object", "required": ["status", "model", "queue", "busy"], "properties": {
    "status": {"type": "string", "enum": ["ok"]},
    "model": {"type": "string", "description": "the critic's name"},
    "queue": {"type": "integer", "description": "critiques waiting behind the running ones"},
    "busy": {"type": "boolean", "description": "whether a critique is running"}}}

RECORD_SCHEMA = {"type": "object", "additionalProperties": True, "properties": {
    "image": {"type": "string", "description": "the uploaded file's name, or 'upload'"},
    "model": {"type": "string"},
    "critique": {"type": "object", "additionalProperties": {"type": "string"},
                 "description": "aspect -> critique text"},
    "overall": {"type": "string"},
    "claims": {"type": "object", "description": "aspect -> [{claim, backed, evidence}]"},
    "attributes": {"type": "object", "description": "name -> {value, unit, level}", "additionalProperties": {
        "type": "object", "properties": {"value": {"type": ["number", "null"]}, "unit": {"type": "string"},
                                         "level": {"type": "string"}}}},
    "saliency": {"type": "object", "properties": {
        "peak": {"type": "array", "items": {"type": "integer"}, "description": "[x, y] of the most salient point"},
        "overlay": {"type": "null", "description": "always null over HTTP: the overlay comes inline"}}},
    "overlay_png_base64": {"type": "string", "description": "the saliency overlay image, base64"},
    "overlay_mime": {"type": "string", "enum": ["image/jpeg", "image/png"]},
    "timings": {"type": "object", "additionalProperties": {"type": "number"}, "description": "seconds per step"}}}


def _critique_responses() -> dict:
    """The critique's answers; every error shares the `Error` schema (components/schemas)."""
    from pydantic import BaseModel, Field

    class Error(BaseModel):
        error: str = Field(description="what went wrong, on one line")

    def _error_doc(when: str, headers: dict | None = None) -> dict:
        return {"model": Error, "description": when, **({"headers": headers} if headers else {})}

    retry = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
    return {
        200: {"description": "the critique record plus the overlay as base64",
              "content": {"application/json": {"schema": RECORD_SCHEMA}}},
        400: _error_doc("not a usable image (empty, not an image, truncated, under 32x32 pixels, too many pixels), "
                        "an unknown aspect, or a malformed body"),
        408: _error_doc("the body stalled mid-upload"),
        411: _error_doc("no Content-Length (chunked bodies are not accepted)"),
        413: _error_doc("the Content-Length is over the upload limit (judged before the body is read)"),
        500: _error_doc("anything unexpected; the server stays up"),
        503: _error_doc("the critique queue is full (or the server is shutting down)", retry),
        504: _error_doc("the critique took longer than the server's timeout"),
    }


def _critique_request(max_upload: int) -> dict:
    """The request body and `aspects` parameter, described by hand: the route reads the raw request
    itself, so the upload limits are applied before anything parses the body."""
    from .critic.teacher import ASPECTS

    binary = {"type": "string", "format": "binary"}
    return {
        "parameters": [{
            "name": "aspects", "in": "query", "required": False, "schema": {"type": "string"},
            "example": "composition,focus",
            "description": f"comma-separated aspects to critique (default: all), from {', '.join(ASPECTS)}"}],
        "requestBody": {
            "required": True,
            "description": "The photo, either as the raw body with its Content-Type (image/jpeg, image/png, ...; "
                           "application/octet-stream works too), or as multipart/form-data whose `photo` field holds "
                           "the file (a form with one file under another name works too). A Content-Length is "
                           f"required and may be at most {max_upload:,} bytes.",
            "content": {
                "image/*": {"schema": binary},
                "application/octet-stream": {"schema": binary},
                "multipart/form-data": {"schema": {"type": "object", "required": ["photo"], "properties": {
                    "photo": {**binary, "description": "the photo file"}}}}}},
    }


# ---------------------------------------------------------------- serving

class Server:
    """The app under uvicorn on a socket bound when this is made, so port 0's real port is known
    before serving starts. `serve_forever()` serves in this thread; `start()` serves from a daemon
    thread and `stop()` ends that cleanly (`shutdown` + `server_close`, socketserver's names)."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False):
        import uvicorn

        self.app, self.service = app, app.state.service
        self.socket = _listen(host, port)
        self.server_address = self.socket.getsockname()[:2]
        self._uvicorn = uvicorn.Server(uvicorn.Config(
            app, log_level="warning" if quiet else "info", access_log=not quiet, server_header=False,
            lifespan="off", timeout_graceful_shutdown=5))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def serve_forever(self) -> None:
        self._uvicorn.run(sockets=[self.socket])

    def start(self, timeout: float = 30) -> "Server":
        """Serve from a daemon thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self.serve_forever, name="asemllm-serve", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the server for {self.url} stopped while starting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server for {self.url} did not start within {timeout:g} s")
            time.sleep(0.01)
        return self

    def shutdown(self, timeout: float = 30) -> None:
        """Stop serving (answers in flight get a few seconds to finish) and wait for the thread."""
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)

    def server_close(self) -> None:
        self.socket.close()
        self.service.close()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def _listen(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"cannot listen on {host}:{port}: {e.strerror}") from None
    return sock


def make_server(critic, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 20,
                max_pixels: int = 50_000_000, timeout: float = 60, queue: int = 4, quiet: bool = False,
                stall: float = STALL_S, workers: int = 1) -> Server:
    """A ready Server (bound, not yet serving); `server.service` is its CritiqueService. With
    `workers` > 1, `critic` is a function that loads the critic (see CritiqueService)."""
    app = make_app(critic, max_upload_mb=max_upload_mb, max_pixels=max_pixels, timeout=timeout, queue=queue,
                   quiet=quiet, stall=stall, workers=workers)
    return Server(app, host, port, quiet=quiet)


def serve(critic, host: str = "127.0.0.1", port: int = 8000, **kw) -> None:
    server = make_server(critic, host, port, **kw)
    print(f"asemllm: serving {server.service.model} on {server.url}/ (Ctrl-C stops)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>asemllm — photo critique</title>
<style>
:root{--bg:#f6f5f2;--fg:#1d1d1f;--mut:#6b6b70;--acc:#c0462b;--card:#fff;--bar:#e9e6e0}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:18px 28px;border-bottom:1px solid #ddd;background:var(--card)}
header h1{margin:0;font-size:20px} header p{margin:2px 0 0;color:var(--mut)}
main{display:grid;grid-template-columns:minmax(280px,1fr) minmax(320px,1.2fr);gap:22px;padding:22px 28px;max-width:1300px;margin:auto}
@media(max-width:860px){main{grid-template-columns:1fr}}
.card{background:var(--card);border:1px solid #e2e0dc;border-radius:10px;padding:16px}
#drop{display:block;border:2px dashed #b9b5ad;border-radius:10px;padding:28px;text-align:center;cursor:pointer;background:#fbfaf8}
#drop.over{border-color:var(--acc);background:#fff4f0}
#drop input{display:block;margin:10px auto 0}
#status{margin:10px 0 0;color:var(--mut);min-height:1.5em}
#status.err{color:#b00020}
#overlay{width:100%;border-radius:8px;margin-top:12px;display:none}
h2{font-size:16px;margin:0 0 8px}
#critique dl{margin:0} #critique dt{font-weight:600;text-transform:capitalize;margin-top:10px}
#critique dd{margin:2px 0 0} #critique .checks{font-size:.85em}
.attr{display:grid;grid-template-columns:150px 1fr 190px;gap:10px;align-items:center;padding:3px 0;font-size:13px}
.attr .name{text-transform:capitalize}
.track{height:10px;background:var(--bar);border-radius:5px;overflow:hidden}
.fill{height:100%;background:linear-gradient(90deg,#e7a04c,var(--acc));border-radius:5px}
.val{color:var(--mut);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.muted{color:var(--mut)}
</style></head>
<body>
<header><h1>Photo critique</h1><p>Drop a photo to get a critique by aspect, where the eye goes, and what was measured.</p></header>
<main>
<section>
 <div class="card">
  <label id="drop" for="file"><strong>Drop a photo here</strong> or pick one
   <input type="file" id="file" accept="image/*"></label>
  <div id="status" role="status"></div>
  <img id="overlay" alt="saliency overlay: where the eye is drawn">
 </div>
</section>
<section>
 <div class="card"><h2>Critique</h2><div id="critique" class="muted">No photo yet.</div></div>
 <div class="card" style="margin-top:18px"><h2>Measured attributes</h2><div id="attributes" class="muted">—</div></div>
</section>
</main>
<script>
"use strict";
// [low, high, log-scale?]: where a bar is empty and full for each measurement
const RANGES={brightness:[0,1],exposure_ev:[-4,4],highlights_clipped:[0,20],shadows_crushed:[0,20],
 contrast:[0,0.4],dynamic_range:[0,14],colourfulness:[0,150],saturation:[0,1],colour_temperature:[2000,10000],
 colour_cast:[0,20],sharpness:[1,10000,true],subject_sharpness:[1,10000,true],background_sharpness:[1,10000,true],
 focus_separation:[-3,3],noise:[0,10],subject_position:[0,0.3],centre_offset:[0,0.5],subject_size:[0,1],
 balance:[0,1],horizon_tilt:[-15,15],symmetry:[0,1],clutter:[0,0.2]};
const $=id=>document.getElementById(id);
const esc=s=>String(s).replace(/[&<>"']/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
function frac(name,v,unit){
 if(v===null||v===undefined||!isFinite(v))return 0;
 let r=RANGES[name]||(unit==="0-1"?[0,1]:null);
 if(!r)return Math.abs(v)/(Math.abs(v)+1);
 let [lo,hi,lg]=r; if(lg){v=Math.log10(Math.max(v,lo));lo=Math.log10(lo);hi=Math.log10(hi);}
 return Math.min(1,Math.max(0,(v-lo)/(hi-lo)));
}
function fmt(v){if(v===null||v===undefined)return "n/a";const a=Math.abs(v);
 return a>=1000?v.toFixed(0):a>=10?v.toFixed(1):a>=1?v.toFixed(2):v.toFixed(3);}
function backed(cl){if(!cl||!cl.length)return "";const no=cl.filter(c=>!c.backed).map(c=>c.claim);
 return `<div class="muted checks">${cl.length-no.length} of ${cl.length} claims backed by the measurements`+
  (no.length?`; not: ${esc(no.join(", "))}`:"")+`</div>`;}
function show(r){
 const cl=r.claims||{};
 const c=Object.entries(r.critique||{}).map(([a,t])=>`<dt>${esc(a.replace(/_/g," "))}</dt><dd>${esc(t)}${backed(cl[a])}</dd>`).join("");
 $("critique").className="";$("critique").innerHTML=`<dl>${c}</dl><p class="muted">${esc(r.model||"")}</p>`;
 const rows=Object.entries(r.attributes||{}).map(([n,a])=>{
  const pct=(100*frac(n,a.value,a.unit)).toFixed(1);
  const unit=a.unit&&a.unit!=="0-1"?" "+a.unit:"";
  return `<div class="attr" data-name="${esc(n)}"><span class="name">${esc(n.replace(/_/g," "))}</span>`+
   `<div class="track" title="${esc(fmt(a.value)+unit)}"><div class="fill" style="width:${pct}%"></div></div>`+
   `<span class="val">${esc(fmt(a.value)+unit)} · ${esc(a.level)}</span></div>`;}).join("");
 $("attributes").className="";$("attributes").innerHTML=rows||"—";
 if(r.overlay_png_base64){$("overlay").src=`data:${r.overlay_mime||"image/jpeg"};base64,${r.overlay_png_base64}`;$("overlay").style.display="block";}
}
async function send(file){
 if(!file)return;
 const st=$("status");st.className="";st.textContent=`Critiquing ${file.name}…`;
 const t0=performance.now();
 try{
  const res=await fetch("/v1/critique",{method:"POST",body:file,headers:{"Content-Type":file.type||"application/octet-stream"}});
  let body;try{body=await res.json();}catch(e){body={error:`HTTP ${res.status}`};}
  if(!res.ok){st.className="err";st.textContent=body.error||`HTTP ${res.status}`;return;}
  show(body);st.textContent=`${file.name}: done in ${((performance.now()-t0)/1000).toFixed(1)} s`;
 }catch(e){st.className="err";st.textContent="Could not reach the server: "+e.message;}
}
$("file").addEventListener("change",e=>send(e.target.files[0]));
const drop=$("drop");
["dragenter","dragover"].forEach(t=>drop.addEventListener(t,e=>{e.preventDefault();drop.classList.add("over");}));
["dragleave","drop"].forEach(t=>drop.addEventListener(t,e=>{e.preventDefault();drop.classList.remove("over");}));
drop.addEventListener("drop",e=>send(e.dataTransfer.files[0]));
</script>
</body></html>
"""
