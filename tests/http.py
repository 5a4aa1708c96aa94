"""Requests sent to a live server at the same moment, for the tests that race: each from its
own thread, released together by a barrier."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


#: (method, path, headers, body): a dict body is sent as JSON, bytes as they are.
Call = tuple[str, str, dict[str, str], "dict | bytes"]


def send_together(url: str, calls: Sequence[Call]) -> list[Answer]:
    """Send every call at the same moment, each from its own thread; return the answers in
    the calls' order."""
    barrier = threading.Barrier(len(calls))

    def send(call: Call) -> Answer:
        method, path, headers, body = call
        if isinstance(body, dict):
            data, headers = (
                json.dumps(body).encode(),
                {**headers, "Content-Type": "application/json"},
            )
        else:
            data = body
        request = urllib.request.Request(url + path, data=data, headers=headers, method=method)
        barrier.wait(timeout=30)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, dict(error.headers), error.read())

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(send, calls))
