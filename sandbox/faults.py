"""Run-time fault and latency injection, shared by both emulators.

A fault matches requests by a regular expression over ``"METHOD /path"`` and, while it is
active (for ``duration`` seconds, or ``count`` requests, or until cleared), answers a
fraction ``rate`` of them with an error in the emulator's own shape, and/or delays them by
``latency_ms``. Faults are added from Python (``injector.add(...)``) or over HTTP:

    POST   /__sandbox__/faults   {"endpoint": "POST .*/composite/sobjects", "status": 503,
                                  "code": "SERVER_UNAVAILABLE", "rate": 1.0, "duration": 60}
    GET    /__sandbox__/faults   the active faults
    DELETE /__sandbox__/faults   clear them all

Two kinds act on the records of a write rather than on the request (the Salesforce
emulator applies them; see ``sandbox/salesforce/record_faults.py``): ``per_record`` answers
a collection call with every record failing with ``code`` (say a trigger's
CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY wrapping UNABLE_TO_LOCK_ROW, or UNKNOWN_EXCEPTION),
and ``race`` lets another transaction create each new key of an upsert first, so the
call loses the race as it would against a second worker:

    {"endpoint": "PATCH .*/composite/sobjects/Lead/", "race": true, "count": 1}
    {"endpoint": "POST .*/composite/sobjects", "per_record": true,
     "code": "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", "count": 1}

A fault with ``"reset": true`` answers nothing: the emulator resets the TCP connection
before the request is handled (:func:`reset_connection`), as Salesforce's edge
intermittently does ("Connection aborted", ECONNRESET / RemoteDisconnected:
https://github.com/simple-salesforce/simple-salesforce/issues/411 and /issues/449).
Under TLS the client sees it as a reset, a remote end closed without response, or an
SSL EOF ("EOF occurred in violation of protocol"), as real clients do.
"""

from __future__ import annotations

import random
import re
import socket
import struct
import threading
import time
from dataclasses import asdict, dataclass, field

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, model_validator

RESET_EXTENSION = "sandbox.reset"  # the ASGI scope extension serve() installs


@dataclass
class Fault:
    """One injected misbehaviour. ``status`` None (and no ``reset``) means latency only."""

    endpoint: str = ".*"
    status: int | None = None
    reset: bool = False
    code: str | None = None
    message: str | None = None
    fields: list[str] | None = None
    rate: float = 1.0
    latency_ms: int = 0
    duration: float | None = None
    count: int | None = None
    per_record: bool = False
    race: bool = False
    started: float = field(default_factory=time.monotonic)
    hits: int = 0

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.endpoint)

    def active(self, now: float) -> bool:
        if self.duration is not None and now - self.started > self.duration:
            return False
        return self.count is None or self.hits < self.count

    def matches(self, method: str, path: str) -> bool:
        return bool(self._pattern.search(f"{method.upper()} {path}"))

    def describe(self) -> dict:
        data = asdict(self)
        data.pop("started")
        if self.duration is not None:
            data["remaining_seconds"] = max(0.0, self.duration - (time.monotonic() - self.started))
        return data


class FaultSpec(BaseModel):
    """The JSON body of ``POST /__sandbox__/faults``."""

    endpoint: str = ".*"
    status: int | None = Field(default=None, ge=100, le=599)
    reset: bool = False  # reset the connection instead of answering
    code: str | None = None
    message: str | None = None
    fields: list[str] | None = None  # the fields a Salesforce error names
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    latency_ms: int = Field(default=0, ge=0, le=60_000)
    duration: float | None = Field(default=None, gt=0)
    count: int | None = Field(default=None, ge=1)
    per_record: bool = False  # every record of the write fails with ``code``
    race: bool = False  # another transaction creates each new upserted key first

    @model_validator(mode="after")
    def _one_kind(self) -> FaultSpec:
        if self.per_record and not self.code:
            raise ValueError("a per_record fault needs the code its records fail with")
        if (self.per_record or self.race) and self.status is not None:
            raise ValueError("a per_record or race fault answers 200: give no status")
        return self


class FaultInjector:
    """Thread-safe set of active faults; ``rng`` is injectable so tests can pin it."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._rng = rng or random.Random()

    def add(self, **spec) -> Fault:
        fault = Fault(**FaultSpec(**spec).model_dump())
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        now = time.monotonic()
        with self._lock:
            self._faults = [f for f in self._faults if f.active(now)]
            return list(self._faults)

    def pick(self, method: str, path: str) -> tuple[int, Fault | None]:
        """Decide for one request: (latency in ms to add, the error fault to answer or None)."""
        now = time.monotonic()
        latency, error = 0, None
        with self._lock:
            for fault in self._faults:
                if not fault.active(now) or not fault.matches(method, path):
                    continue
                if self._rng.random() >= fault.rate:
                    continue
                fault.hits += 1
                latency = max(latency, fault.latency_ms)
                if error is None and (fault.status is not None or fault.per_record
                                      or fault.race or fault.reset):
                    error = fault
        return latency, error

    def router(self) -> APIRouter:
        """Control endpoints under ``/__sandbox__/faults``."""
        router = APIRouter(prefix="/__sandbox__")

        @router.get("/faults")
        def list_faults() -> list[dict]:
            return [f.describe() for f in self.active()]

        @router.post("/faults", status_code=201)
        def add_fault(spec: FaultSpec) -> dict:
            return self.add(**spec.model_dump()).describe()

        @router.delete("/faults", status_code=204)
        def clear_faults() -> None:
            self.clear()

        return router


def reset_connection(request: Request) -> Response:
    """Reset the request's TCP connection (RST, no answer); the returned response is
    never delivered. Needs the server of :func:`sandbox.server.serve`, which gives the
    app its connection's transport."""
    reset = request.scope.get("extensions", {}).get(RESET_EXTENSION)
    if reset is None:
        raise RuntimeError("this server cannot reset connections (serve the app with "
                           "sandbox.server.serve)")
    reset()
    return Response(status_code=500)


def abort_transport(transport) -> None:
    """Close an asyncio transport with an RST: SO_LINGER 0, then abort."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
