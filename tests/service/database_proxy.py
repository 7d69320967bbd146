"""A TCP proxy in front of the embedded Postgres that can fall silent: connections stay open and
nothing is refused, but no byte goes through until it resumes, as with a stalled host or a network
that drops packets. Unlike a stopped server, a silent one gives a client no error to react to."""

from __future__ import annotations

import select
import socket
import threading
from pathlib import Path

POLL_SECONDS = 0.05


class DatabaseProxy:
    """Forwards 127.0.0.1:``port`` to the Unix socket ``target``; ``silence()`` holds every byte in
    both directions (new connections are accepted and then hear nothing), ``resume()`` lets them
    through again."""

    def __init__(self, target: Path) -> None:
        self._target = str(target)
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port: int = self._listener.getsockname()[1]
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, user: str, database: str) -> str:
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def silence(self) -> None:
        self._forwarding.clear()

    def resume(self) -> None:
        self._forwarding.set()

    def close(self) -> None:
        self._closed.set()
        self._forwarding.set()
        for sock in [self._listener, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self._target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Copy ``source`` to ``sink`` while forwarding; hold the bytes (unread) while silent."""
        try:
            while not self._closed.is_set():
                if not self._forwarding.wait(POLL_SECONDS):
                    continue
                readable, _, _ = select.select([source], [], [], POLL_SECONDS)
                if not readable or not self._forwarding.is_set():
                    continue
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except (OSError, ValueError):  # either side closed (ValueError: select on a closed socket)
            pass
        finally:
            source.close()
            sink.close()
