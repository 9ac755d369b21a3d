"""A TCP relay between the browser and the daemon that can drop the link (a Wi-Fi blip):
``cut()`` closes every open connection and refuses new ones until ``restore()``."""

from __future__ import annotations

import selectors
import socket
import threading


class Blip:
    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.down = False
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="blip-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        with self._lock:
            self.down = True
        self._wake_w.send(b"c")

    def restore(self) -> None:
        with self._lock:
            self.down = False

    def close(self) -> None:
        self._stop.set()
        self._wake_w.send(b"s")
        self._thread.join(timeout=5)
        for sock in (self.listener, self._wake_r, self._wake_w):
            sock.close()

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.5):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._wake_r:
                        sock.recv(64)
                        if self.down:
                            self._drop_all(sel)
                    elif sock is self.listener:
                        self._accept(sel)
                    else:
                        self._relay(sel, sock)
        finally:
            self._drop_all(sel)
            sel.close()

    def _accept(self, sel: selectors.BaseSelector) -> None:
        try:
            client, _ = self.listener.accept()
        except BlockingIOError:
            return
        if self.down:
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.setblocking(False)
            sel.register(sock, selectors.EVENT_READ)
        self._pairs[client], self._pairs[upstream] = upstream, client

    def _relay(self, sel: selectors.BaseSelector, sock: socket.socket) -> None:
        other = self._pairs.get(sock)
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data or other is None:
            self._drop(sel, sock)
            return
        try:
            other.setblocking(True)
            other.sendall(data)
            other.setblocking(False)
        except OSError:
            self._drop(sel, sock)

    def _drop(self, sel: selectors.BaseSelector, sock: socket.socket) -> None:
        for s in (sock, self._pairs.pop(sock, None)):
            if s is None:
                continue
            self._pairs.pop(s, None)
            try:
                sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()

    def _drop_all(self, sel: selectors.BaseSelector) -> None:
        for sock in list(self._pairs):
            self._drop(sel, sock)
