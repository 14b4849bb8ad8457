"""Run the app under uvicorn on a socket bound first, and say when it is ready.

    sock = listen("127.0.0.1", 0)                     # OSError now, before anything else starts
    run(app, sock, on_ready=lambda url: print(url))   # returns after Ctrl-C or SIGTERM

Binding the socket here, not inside uvicorn, means a port in use is a one-line error before the
server starts, port 0 picks a free port whose number is known (tests use it: no race for a port),
and the "ready" line carries the real address. uvicorn itself logs only warnings and errors.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable

BACKLOG = 2048  # uvicorn's default: connections the kernel queues before they are accepted
GRACE_S = 5.0  # on shutdown, how long requests in flight may take beyond the request timeout


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port); raises OSError naming the address.

    Made with proto=IPPROTO_TCP, as asyncio makes its own: asyncio sets TCP_NODELAY only on
    connections of such a socket, and without it a keep-alive response (headers and body written
    apart) waits 40 ms for the client's delayed ACK (socket.create_server leaves proto 0).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name != "nt":  # a restarted server may bind while old connections linger in TIME_WAIT
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        raise OSError(f"cannot listen on {url_of(host, port)}: {e.strerror or e}") from e
    return sock


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def address(sock: socket.socket) -> str:
    """The URL a bound socket serves, with the port it really got."""
    host, port = sock.getsockname()[:2]
    return url_of(host, port)


def run(app, sock: socket.socket, on_ready: Callable[[str], None], timeout_s: float = 30.0) -> None:
    """Serve `app` on `sock` until Ctrl-C or SIGTERM; `on_ready(url)` once it accepts connections.

    uvicorn finishes the requests in flight, then re-raises the signal it caught; both signals
    arrive here as KeyboardInterrupt, which this function swallows: stopping is the normal end.
    """
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                on_ready(address(sock))

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=timeout_s + GRACE_S,
    )
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)  # uvicorn re-raises it after shutting down
    try:
        Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sock.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


__all__ = ["address", "listen", "run", "url_of"]
