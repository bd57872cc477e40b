"""A WebSocket client of GET /api/ws for tests and benchmarks (python3-websocket over TLS): a reader
thread puts every server message in a queue; `expect()` waits for the first one matching."""

from __future__ import annotations

import json
import queue
import socket
import ssl
import threading
import time

import websocket  # Debian python3-websocket (websocket-client)


class LiveClient:
    def __init__(self, inst, rcvbuf: int | None = None, read: bool = True):
        sockopt = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        if rcvbuf:
            sockopt.append((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf))
        self.ws = websocket.create_connection(
            f"wss://localhost:{inst.http_port}/api/ws",
            sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(inst.ca)},
            sockopt=sockopt, timeout=10, enable_multithread=True)
        self.ws.settimeout(None)  # the reader waits as long as the server keeps the connection
        self.messages: queue.Queue = queue.Queue()
        self.received: list[dict] = []  # every message, in order (also those expect() consumed)
        self.arrivals: list[float] = []  # time.monotonic() of each, same order
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = threading.Event()
        self.reading = threading.Event()
        if read:
            self.reading.set()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while True:
                self.reading.wait()
                opcode, data = self.ws.recv_data(control_frame=False)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    if len(data) >= 2:
                        self.close_code = int.from_bytes(data[:2], "big")
                        self.close_reason = data[2:].decode(errors="replace")
                    break
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    m = json.loads(data)
                    self.arrivals.append(time.monotonic())
                    self.received.append(m)
                    self.messages.put(m)
        except (websocket.WebSocketException, OSError, ValueError):
            pass
        finally:
            # As a browser does after the closing handshake: drop the TCP connection (the server
            # otherwise waits, up to its close grace, for a TLS close_notify).
            try:
                self.ws.shutdown()
            except Exception:  # noqa: BLE001 - already gone
                pass
            self.closed.set()

    def send(self, message: dict) -> None:
        self.ws.send(json.dumps(message))

    def auth(self, token: str) -> dict:
        self.send({"type": "auth", "token": token})
        return self.expect(lambda m: m["type"] in ("authenticated", "error"), 10)

    def expect(self, predicate, timeout: float) -> dict:
        """The next message (skipping others) for which predicate(m) holds, within timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching live message within {timeout}s; got "
                                     f"{self.received[-10:]!r}")
            try:
                m = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if predicate(m):
                return m

    def wait_closed(self, timeout: float) -> int | None:
        assert self.closed.wait(timeout), f"connection still open after {timeout}s"
        return self.close_code

    def close(self):
        """Closing handshake, then wait for the reader thread, the only one that closes the socket.
        Closing it here while the reader still runs is a use-after-close: websocket-client answers
        the server's close frame from inside recv, and that TLS record went to whatever file the fd
        number had been reused for by then (it once landed in a later Popen's exec error pipe)."""
        self.reading.set()  # a paused reader (read=False) must run to finish
        if not self.closed.is_set():
            try:
                self.ws.send_close()
            except Exception:  # noqa: BLE001 - already gone
                pass
            if not self.closed.wait(5):
                # shutdown() wakes the blocked reader but keeps the fd number until it closes it.
                try:
                    self.ws.sock.shutdown(socket.SHUT_RDWR)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        self._thread.join(10)
        assert not self._thread.is_alive(), "the WebSocket reader thread did not end"
