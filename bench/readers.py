"""Closed-loop HTTP readers for bench/load.py, spread over processes of their own.

Sixteen reader threads in one Python process share one interpreter lock: a response that arrives
while another thread holds it waits, and that wait is counted as the server's latency. Clients of a
real service are separate programs, so the readers run as ``clients`` threads spread over
``processes`` processes (``processes=1`` is the single-process client of earlier measurements).
Each reader keeps one connection per web process (HTTP/1.1 keep-alive, as an integration's client
does) unless ``keep_alive`` is off, and sends its requests to the web processes in turn.
"""

from __future__ import annotations

import http.client
import multiprocessing
import threading
import time


def _read_until(stop, ports: list[int], path: str, headers: dict, keep_alive: bool, first: int):
    """One reader: GET ``path`` until ``stop`` is set; its latencies (s) and error texts."""
    latencies, errors = [], []
    n = first
    kept = {port: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for port in ports}
    while not stop.is_set():
        port = ports[n % len(ports)]
        n += 1
        t0 = time.perf_counter()
        conn = kept[port] if keep_alive else http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"HTTP {response.status}")
        except Exception as exc:  # noqa: BLE001 - every failure is an error to count
            errors.append(f"{exc.__class__.__name__}: {exc}")
            conn.close()  # a kept connection the server closed is opened again by the next request
        finally:
            if not keep_alive:
                conn.close()
        latencies.append(time.perf_counter() - t0)
    for conn in kept.values():
        conn.close()
    return latencies, errors


def _reader_process(stop, results, ports, path, headers, keep_alive, first: int, count: int) -> None:
    latencies, errors, lock = [], [], threading.Lock()

    def one(index: int) -> None:
        mine, bad = _read_until(stop, ports, path, headers, keep_alive, index)
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    threads = [threading.Thread(target=one, args=(first + i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((latencies, errors, time.process_time()))


class Readers:
    """``clients`` closed-loop readers in ``processes`` processes: ``start()``, then ``stop()`` returns
    (latencies in seconds, error texts, CPU seconds the readers used)."""

    def __init__(self, *, ports: list[int], path: str, headers: dict, clients: int, processes: int, keep_alive: bool):
        context = multiprocessing.get_context("fork")  # before the caller starts its own threads
        self._stop = context.Event()
        self._results = context.Queue()
        processes = max(1, min(processes, clients))
        shares = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
        firsts = [sum(shares[:i]) for i in range(processes)]
        self._processes = [
            context.Process(
                target=_reader_process,
                args=(self._stop, self._results, ports, path, headers, keep_alive, first, share),
                daemon=True,
            )
            for first, share in zip(firsts, shares, strict=True)
        ]

    def start(self) -> None:
        for process in self._processes:
            process.start()

    def stop(self) -> tuple[list[float], list[str], float]:
        self._stop.set()
        latencies, errors, cpu = [], [], 0.0
        for _ in self._processes:  # drained before joining: a child blocks until its results are read
            mine, bad, used = self._results.get(timeout=120)
            latencies.extend(mine)
            errors.extend(bad)
            cpu += used
        for process in self._processes:
            process.join(timeout=30)
        return latencies, errors, cpu
