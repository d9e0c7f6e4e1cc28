"""A TCP proxy on 127.0.0.1 that delays every byte by a fixed one-way time, both ways.

Loopback has no latency, so a benchmark against a local server hides what a remote one costs:
one round trip per request. Through this proxy each request pays ``rtt_s`` (half each way),
while bandwidth stays that of loopback. Order within a connection is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType

__all__ = ["LatencyProxy"]

READ_BYTES = 64 * 1024


class LatencyProxy:
    """``with LatencyProxy(upstream_port, rtt_s) as proxy:`` listens on ``proxy.port``."""

    def __init__(self, upstream_port: int, rtt_s: float) -> None:
        self._upstream = upstream_port
        self._delay_s = rtt_s / 2
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="latency-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._cancel_connections(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _cancel_connections(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0, family=socket.AF_INET)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._upstream)
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        except asyncio.CancelledError:
            pass  # the proxy is closing: end this connection quietly
        finally:
            writer.close()
            up_writer.close()

    async def _pump(self, source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
        """Forward what ``source`` sends, each chunk ``delay`` after it was read."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if not data:
                    target.close()
                    return
                target.write(data)
                await target.drain()

        sender = asyncio.ensure_future(deliver())
        try:
            while data := await source.read(READ_BYTES):
                queue.put_nowait((time.monotonic() + self._delay_s, data))
        except ConnectionError:
            pass
        queue.put_nowait((time.monotonic() + self._delay_s, b""))
        with contextlib.suppress(ConnectionError):
            await sender
