"""The real service under closed-loop load: a uvicorn process on a free loopback port.

Each of ``concurrency`` clients sends its next request as soon as the last one returns, so the
server is never idle and the measured latency includes any queueing behind other clients.
The per-stage breakdown and candidate counts come from the server's own ``/metrics``, read
before and after the measured requests.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import psutil
from prometheus_client.parser import text_string_to_metric_families

READY_POLL_SECONDS = 0.5
STOP_TIMEOUT_SECONDS = 30.0
CLIENT_TIMEOUT_SECONDS = 30.0
WORKER_STARTED = "Application startup complete."  # uvicorn's log line once a worker's lifespan has started
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class ServiceProcess:
    """A running server: its base URL, the process id of ``corkboard serve`` and seconds from
    launch to ready. Memory and CPU are of that process and its workers together."""

    url: str
    pid: int
    startup_s: float

    def memory_mb(self) -> float:
        """Proportional set size of the server's processes (not of the database they talk to), in
        MiB: a page that several workers share counts once, split between them."""
        return sum(process.memory_full_info().pss for process in self._processes()) / 2**20

    def cpu_s(self) -> float:
        """CPU seconds (user and system) the server's processes have used so far."""
        return sum(sum(process.cpu_times()[:2]) for process in self._processes())

    def workers_with_clients(self) -> int:
        """How many of the server's processes hold an open client connection now: a keep-alive
        connection stays with the worker that accepted it, so a few clients may all land on one."""
        port = urlsplit(self.url).port
        return sum(
            any(
                held.status == psutil.CONN_ESTABLISHED and held.laddr.port == port
                for held in process.net_connections("tcp")
            )
            for process in self._processes()
        )

    def _processes(self) -> list[psutil.Process]:
        server = psutil.Process(self.pid)
        return [server, *server.children(recursive=True)]


@dataclass(frozen=True)
class CpuSeconds:
    """CPU seconds that the server process and the load generator spent on the measured requests."""

    server: float
    client: float


@dataclass(frozen=True)
class LoadResult:
    """Latency of every measured request, the failures, the wall time, the metrics delta, the CPU
    time on each side and how many server processes held the clients' connections halfway."""

    latencies_s: np.ndarray
    errors: int
    wall_s: float
    metrics: Samples
    cpu: CpuSeconds
    workers_with_clients: int


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_service(
    data_dir: Path, *, log_path: Path, startup_timeout_s: float, workers: int = 1
) -> Iterator[ServiceProcess]:
    """Start the API on ``data_dir`` as ``corkboard serve --workers`` runs it, wait until every
    worker says ready on ``/readyz``, and stop it on exit."""
    port = free_port()
    command = [
        sys.executable, "-m", "corkboard.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "info",  # info: each worker logs its start-up
    ]  # fmt: skip
    env = {**os.environ, "CORKBOARD_DATA_DIR": str(data_dir)}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        launched = time.perf_counter()
        _wait_until_ready(process, url, log_path, startup_timeout_s, workers)
        yield ServiceProcess(url, process.pid, round(time.perf_counter() - launched, 1))
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(
    process: subprocess.Popen, url: str, log_path: Path, timeout_s: float, workers: int
) -> None:
    """Until ``/readyz`` answers 200 and the log shows each worker's start-up done (a worker takes
    connections only from then, so the first ready answer may come from one of several)."""
    deadline = time.monotonic() + timeout_s
    reason = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text()[-2000:]
            raise RuntimeError(
                f"the server exited with {process.returncode} before it was ready:\n{tail}"
            )
        try:
            response = httpx.get(f"{url}/readyz", timeout=5.0)
            if response.status_code != 200:
                reason = response.json().get("detail", response.text)
            elif (started := log_path.read_text().count(WORKER_STARTED)) < workers:
                reason = f"{started} of {workers} workers started"
            else:
                return
        except httpx.HTTPError as error:
            reason = str(error) or type(error).__name__
        time.sleep(READY_POLL_SECONDS)
    raise RuntimeError(
        f"the server at {url} was not ready after {timeout_s:.0f} s: {reason}"
    )


def scrape(url: str) -> Samples:
    """Every sample of ``/metrics`` keyed by (sample name, sorted labels)."""
    text = httpx.get(f"{url}/metrics", timeout=10.0).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def closed_loop(server: ServiceProcess, paths: list[str], *, concurrency: int, warmup_paths: list[str]) -> LoadResult:
    """Send ``warmup_paths`` unmeasured, then ``paths`` from ``concurrency`` closed-loop clients."""
    if concurrency < 1 or not paths:
        raise ValueError("need at least one client and one request")
    if warmup_paths:
        _drive(server.url, warmup_paths, concurrency)
    before = scrape(server.url)
    server_cpu, client_cpu, start = server.cpu_s(), time.process_time(), time.perf_counter()
    latencies, errors, holders = _drive(server.url, paths, concurrency, halfway=server.workers_with_clients)
    wall = time.perf_counter() - start
    cpu = CpuSeconds(server=server.cpu_s() - server_cpu, client=time.process_time() - client_cpu)
    after = scrape(server.url)
    delta = {key: value - before.get(key, 0.0) for key, value in after.items()}
    return LoadResult(np.asarray(latencies), errors, wall, delta, cpu, holders)


def _drive(
    url: str, paths: list[str], concurrency: int, halfway: Callable[[], int] = lambda: 0
) -> tuple[list[float], int, int]:
    """One blocking keep-alive connection per client thread (``http.client``: 0.2-0.35 ms of CPU a
    request on a 2-core machine, so the clients take little of the cores they share with the server).
    Returns the latencies, the failures and what ``halfway`` said once half the requests were answered."""
    address = urlsplit(url)
    pending = iter(paths)
    taking = threading.Lock()
    latencies: list[float] = []
    failures: list[bool] = []
    half_answered = threading.Event()
    busy = [threading.Event() for _ in range(concurrency)]

    def client_loop(number: int) -> None:
        # Each client connects while the one before it waits on its second answer, as clients
        # arrive one by one: the worker busy with that page is slow to accept, so an idle one takes
        # the new connection (clients that all connect at one instant can land on one worker, and
        # a keep-alive connection stays there: docs/serving.md).
        if number > 0:
            busy[number - 1].wait()
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=CLIENT_TIMEOUT_SECONDS)
        sent = 0
        try:
            while True:
                with taking:  # the shared iterator hands each path to exactly one client
                    path = next(pending, None)
                if path is None:
                    return
                start = time.perf_counter()
                try:
                    connection.request("GET", path)
                    sent += 1
                    if sent == 2:  # on the connection its first request opened
                        busy[number].set()
                    response = connection.getresponse()
                    response.read()
                    failed = response.status != 200
                except (OSError, http.client.HTTPException):
                    connection.close()  # the next request opens a fresh connection
                    failed = True
                latencies.append(time.perf_counter() - start)
                failures.append(failed)
                if len(latencies) >= len(paths) // 2:
                    half_answered.set()
        finally:
            connection.close()
            busy[number].set()  # so no client waits on one that has stopped
            half_answered.set()  # nor the caller

    clients = [
        threading.Thread(target=client_loop, args=(number,), name=f"bench-client-{number}")
        for number in range(concurrency)
    ]
    for client in clients:
        client.start()
    half_answered.wait()
    seen_halfway = halfway()
    for client in clients:
        client.join()
    return latencies, sum(failures), seen_halfway
