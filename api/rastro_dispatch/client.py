"""A client of the dispatch API that knows every host: it starts each request on the next host in
turn and moves on to the following one when a host does not answer (connection refused or reset,
timeout, or a 5xx), so one dead host costs a retry, never an answer. Used by the chaos prober, the
benchmark and the tests; operators can use it from Python."""

from __future__ import annotations

import itertools
import json
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union


class NoHostAnswered(ConnectionError):
    """Every host failed this request; the message lists why each did."""


@dataclass
class Answer:
    status: int
    body: Any
    host: str
    # Hosts tried before this one answered (each with why it did not).
    failed_over: list[str] = field(default_factory=list)


class DispatchClient:
    def __init__(self, urls: list[str], key: str, cafile: Optional[str] = None, timeout: float = 2.0) -> None:
        if not urls:
            raise ValueError("urls: at least one API URL is needed")
        self.urls = [u.rstrip("/") for u in urls]
        self._key = key
        self._timeout = timeout
        self._context = ssl.create_default_context(cafile=cafile) if cafile else None
        self._next = itertools.cycle(range(len(self.urls)))
        self._lock = threading.Lock()

    @classmethod
    def from_credentials(cls, path: Union[str, Path], timeout: float = 2.0) -> "DispatchClient":
        """From credentials/<inventory>/api.properties (urls, cafile, key_file), as site.yml leaves it."""
        from rastro_producer.kafka_config import read_properties
        p = Path(path)
        props = read_properties(p)
        missing = [k for k in ("urls", "key_file") if k not in props]
        if missing:
            raise ValueError(f"{p}: missing {', '.join(missing)}")
        key = (p.parent / props["key_file"]).read_text().strip()
        cafile = str(p.parent / props["cafile"]) if props.get("cafile") else None
        return cls(props["urls"].split(","), key, cafile, timeout)

    def get(self, path: str, params: Optional[dict[str, Any]] = None, auth: bool = True) -> Answer:
        """GET path on the next host; on a host that does not answer, the next, until each was tried."""
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        with self._lock:
            first = next(self._next)
        failures: list[str] = []
        for i in range(len(self.urls)):
            base = self.urls[(first + i) % len(self.urls)]
            req = urllib.request.Request(base + path + query)
            if auth:
                req.add_header("Authorization", f"Bearer {self._key}")
            try:
                with urllib.request.urlopen(req, timeout=self._timeout, context=self._context) as resp:
                    return Answer(resp.status, json.loads(resp.read()), base, failures)
            except urllib.error.HTTPError as exc:
                body = exc.read()
                if exc.code < 500:
                    return Answer(exc.code, json.loads(body) if body else None, base, failures)
                failures.append(f"{base}: HTTP {exc.code}")
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                failures.append(f"{base}: {getattr(exc, 'reason', exc)}")
        raise NoHostAnswered("; ".join(failures))
