"""requests whose exchanges end by a deadline (scanner.calls.deadline): every
socket a session opens or reuses, through a proxy too, is handed to the
deadline of the exchange running on that thread, which shuts it down when
the exchange outlasts it, whether the peer is slow to connect, to send its
headers or to finish its body."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from scanner.calls.deadline import Deadline

_current = threading.local()


@contextmanager
def exchange(seconds: float) -> Iterator[Deadline]:
    """A deadline for the requests this thread makes within the block."""
    with Deadline(seconds) as deadline:
        _current.deadline = deadline
        try:
            yield deadline
        finally:
            _current.deadline = None


def _watch(sock: socket.socket | None) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None and sock is not None:
        deadline.watch(sock)


class _Watched(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)  # before TLS: a slow handshake is the exchange's too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch(self.sock)  # a kept-alive connection, reused by this exchange
        super().request(*args, **kwargs)


class _WatchedTls(_Watched, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Watched


class _TlsPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedTls


class BoundedAdapter(HTTPAdapter):
    """Mount it on a session for the URLs whose exchanges `exchange` bounds."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}
        return manager


def bounded(session: requests.Session, prefix: str) -> requests.Session:
    """SESSION with the URLs under PREFIX bounded by `exchange`."""
    session.mount(prefix, BoundedAdapter(max_retries=0))
    return session
