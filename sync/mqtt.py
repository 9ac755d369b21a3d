"""A paho-mqtt 2.x client driven by the asyncio loop (no paho thread).

paho's socket is watched with ``loop.add_reader``/``add_writer``; ``loop_misc``
runs every second for keepalive. Connects with MQTT v5, optional TLS and
username/password, sets a Will, reconnects with capped exponential backoff and
jitter. Callbacks run on the event loop. Durability is NOT this module's job:
the outbox and app-level acks are (ARCHITECTURE §3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from sync.publisher import retrieve

log = logging.getLogger(__name__)

OnConnect = Callable[[], Coroutine[Any, Any, None]]
BeforeConnect = Callable[[], Coroutine[Any, Any, "Will | None"]]
# a handler may return what it started (a task or future): with ``manual_ack`` the message is
# acknowledged to the broker when that is done, not when it arrived
OnMessage = Callable[[str, bytes], object]


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"broker URL must be mqtt://HOST:PORT or mqtts://HOST:PORT: {url!r}")
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, parts.port or (8883 if tls else 1883), tls)


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


class MqttClient:
    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 15,
        ca_file: str | None = None,
        max_inflight: int = 100,
        backoff: tuple[float, float] = (0.5, 30.0),
        manual_ack: bool = False,
    ) -> None:
        """``manual_ack``: a QoS 1 message is acknowledged (PUBACK) only once the work its
        handler returned is done, so the broker's ``max_inflight_messages`` bounds the
        messages this client holds unfinished: under overload the rest wait in the broker
        (or go to another member of a shared subscription), not in this process's memory."""
        self.broker = BrokerUrl.parse(url)
        self.keepalive = keepalive
        self.backoff = backoff
        self.on_connect: OnConnect | None = None
        # awaited before every connect attempt; may return the Will for that session
        # (Sparkplug-style birth/death: each session has its own bd_seq)
        self.before_connect: BeforeConnect | None = None
        self.on_message: OnMessage | None = None
        # messages the broker sent from its retained store (those of a new subscription): not
        # proof that their publisher is alive now. None: they go to on_message like the rest
        self.on_retained: OnMessage | None = None
        self.on_disconnect: Callable[[], None] | None = None
        self.connected = asyncio.Event()
        self.manual_ack = manual_ack
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=MQTTProtocolVersion.MQTTv5,
                                   reconnect_on_failure=False, manual_ack=manual_ack)
        if username:
            self._client.username_pw_set(username, password)
        if self.broker.tls:
            self._client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._client.max_inflight_messages_set(max_inflight)
        self._client.max_queued_messages_set(0)
        self._client.on_socket_open = self._socket_open
        self._client.on_socket_close = self._socket_close
        self._client.on_socket_register_write = self._register_write
        self._client.on_socket_unregister_write = self._unregister_write
        self._client.on_connect = self._connected
        self._client.on_disconnect = self._disconnected
        self._client.on_message = self._message
        self._client.on_publish = self._published
        self._client.on_subscribe = self._subscribed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._subacks: dict[int, asyncio.Future[list[int]]] = {}
        self._lost = asyncio.Event()
        self._closing = False
        # writes: a packet queued on the loop thread is written on the loop's next pass; the
        # socket is watched for writability only while the kernel will not take more (an
        # add_writer/remove_writer pair, two epoll_ctl and two self-pipe wake-ups per packet
        # were most of a catch-up drain's loop time)
        self._loop_thread: int | None = None
        self._write_scheduled = False
        self._write_watched = False
        self.connects = 0
        self.last_error: str | None = None

    def set_will(self, will: Will) -> None:
        self._client.will_set(will.topic, will.payload, qos=1, retain=will.retain)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._task = asyncio.create_task(self._run(), name="mqtt-connection")

    async def close(self, *, graceful: bool = True) -> None:
        """Stop; ``graceful`` sends DISCONNECT (the broker then drops the Will)."""
        self._closing = True
        if graceful and self.connected.is_set():
            self._client.disconnect()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._drop_socket()
        self._fail_pending(ConnectionError("client closed"))

    # -- public operations (event loop) --------------------------------------
    async def publish(self, topic: str, payload: bytes, *, qos: int = 1,
                      retain: bool = False) -> int:
        """Publish and wait for PUBACK; returns the v5 reason code (0 = success)."""
        return await self.publish_nowait(topic, payload, qos=qos, retain=retain)

    def publish_nowait(self, topic: str, payload: bytes, *, qos: int = 1,
                       retain: bool = False) -> asyncio.Future[int]:
        """Start a publish; the future resolves with the PUBACK reason code.

        PUBACKs are read on this same loop, so the future is registered before
        any acknowledgement can arrive.
        """
        assert self._loop is not None
        future: asyncio.Future[int] = self._loop.create_future()
        if not self.connected.is_set():
            future.set_exception(ConnectionError("not connected to the broker"))
            return future
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            future.set_exception(ConnectionError(paho.error_string(info.rc)))
        elif qos == 0:
            future.set_result(0)
        else:
            self._pending[info.mid] = future
        return future

    async def publish_detached(self, topic: str, payload: bytes) -> int:
        """The outbox publisher's ``Publish``: start a QoS 1 publish and do not wait for its
        PUBACK (the app-level ack is what counts); ConnectionError when it cannot start."""
        future = self.publish_nowait(topic, payload)
        if future.done() and future.exception() is not None:
            raise ConnectionError(str(future.exception()))
        future.add_done_callback(retrieve)
        return 0

    async def subscribe(self, topics: list[str], qos: int = 1) -> list[int]:
        """Subscribe; returns the SUBACK reason codes (>= 0x80 means refused)."""
        assert self._loop is not None
        result, mid = self._client.subscribe([(t, qos) for t in topics])
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionError(f"subscribe failed: {paho.error_string(result)}")
        future: asyncio.Future[list[int]] = self._loop.create_future()
        self._subacks[mid] = future
        return await future

    # -- connection management ------------------------------------------------
    async def _run(self) -> None:
        delay = self.backoff[0]
        while not self._closing:
            self._lost.clear()
            try:
                await self._connect()
                delay = self.backoff[0]
                misc = asyncio.create_task(self._misc())
                try:
                    await self._lost.wait()
                finally:
                    misc.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await misc
            except (OSError, ConnectionError, TimeoutError, ssl.SSLError) as exc:
                self.last_error = str(exc)
                log.warning("broker %s:%s unreachable: %s", self.broker.host, self.broker.port, exc)
            self._drop_socket()
            self._fail_pending(ConnectionError("connection lost"))
            if self._closing:
                return
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self.backoff[1])

    async def _connect(self) -> None:
        if self.before_connect is not None:
            will = await self.before_connect()
            if will is not None:
                self.set_will(will)
        self._client.connect_async(self.broker.host, self.broker.port, self.keepalive,
                                   clean_start=True)
        # reconnect() does the blocking TCP (+TLS) connect: keep it off the loop
        rc = await asyncio.to_thread(self._client.reconnect)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise ConnectionError(paho.error_string(rc))
        async with asyncio.timeout(self.keepalive):  # not wait_for: it can swallow a cancel
            await self._connack()

    async def _connack(self) -> None:
        waiter = asyncio.create_task(self.connected.wait())
        lost = asyncio.create_task(self._lost.wait())
        done, pending = await asyncio.wait({waiter, lost}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if lost in done:
            raise ConnectionError(self.last_error or "connection refused")

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(1)
            if self._client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost.set()
                return

    def _drop_socket(self) -> None:
        sock = self._client.socket()
        if sock is not None and self._loop is not None:
            self._unwatch(sock)
        self.connected.clear()

    @staticmethod
    def _quiet(fn: Callable[[Any], Any], sock: Any) -> None:
        with contextlib.suppress(ValueError, OSError):  # socket already closed
            fn(sock)

    @staticmethod
    def _watch(add: Callable[[Any, Callable[[], None]], Any], sock: Any,
               callback: Callable[[], None]) -> None:
        """``add(sock, callback)`` unless paho closed ``sock`` before the loop got here (a lost
        connection): asyncio would log the failed registration as an error with a traceback."""
        with contextlib.suppress(ValueError, OSError):
            if sock.fileno() >= 0:
                add(sock, callback)

    def _unwatch(self, sock: Any) -> None:
        assert self._loop is not None
        self._write_watched = False
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)

    def _fail_pending(self, exc: Exception) -> None:
        for table in (self._pending, self._subacks):
            for future in table.values():
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # mark retrieved: nobody may be waiting
            table.clear()

    # -- paho callbacks -------------------------------------------------------
    def _socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(OSError, AttributeError):  # acks are tiny: no Nagle delay
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # may run in the connect thread: hand the registration to the loop
        self._to_loop(self._watch, self._loop.add_reader, sock, self._read)

    def _read(self) -> None:
        rc = self._client.loop_read()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._lost.set()

    def _socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._unwatch, sock)

    def _register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._schedule_write, sock)

    def _schedule_write(self, sock: Any) -> None:
        assert self._loop is not None
        if not self._write_scheduled and not self._write_watched:
            self._write_scheduled = True
            self._loop.call_soon(self._write_now, sock)

    def _write_now(self, sock: Any) -> None:
        """Write what paho has queued; watch the socket only if the kernel took less."""
        assert self._loop is not None
        self._write_scheduled = False
        if sock is not self._client.socket():  # that connection is gone
            return
        self._write()
        if self._client.want_write() and not self._write_watched:
            self._write_watched = True
            self._watch(self._loop.add_writer, sock, self._write)

    def _write(self) -> None:
        if self._client.loop_write() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._lost.set()

    def _unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._on_loop(self._unwatch_write, sock)

    def _unwatch_write(self, sock: Any) -> None:
        assert self._loop is not None
        if self._write_watched:
            self._write_watched = False
            self._quiet(self._loop.remove_writer, sock)

    def _on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """``fn(*args)`` now when paho calls from the running loop's own thread (a publish),
        else handed to the loop (the connect thread; paho's ``__del__`` after the loop closed)."""
        assert self._loop is not None
        if threading.get_ident() == self._loop_thread and self._loop.is_running():
            fn(*args)
        else:
            self._to_loop(fn, *args)

    def _to_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn`` on the loop (paho may call from another thread). Once the loop is
        closed there is nothing left to watch: paho's ``__del__`` closing a leftover socket
        after the loop ended would otherwise raise from the garbage collector."""
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # "Event loop is closed"
            self._loop.call_soon_threadsafe(fn, *args)

    def _connected(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                   properties: Any) -> None:
        if reason.is_failure:
            self.last_error = f"connection refused: {reason}"
            log.error("broker refused connection: %s", reason)
            self._lost.set()
            return
        self.connects += 1
        self.last_error = None
        self.connected.set()
        if self.on_connect is not None:
            assert self._loop is not None
            self._loop.create_task(self.on_connect(), name="mqtt-on-connect")

    def _disconnected(self, client: paho.Client, userdata: Any, flags: Any, reason: Any,
                      properties: Any) -> None:
        self.connected.clear()
        self._lost.set()
        if self.on_disconnect is not None:
            self.on_disconnect()

    def _message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        # MQTT sets the retain flag only on what a new subscription gets from the broker's
        # retained store; a retained message published live arrives without it
        handler = self.on_retained if msg.retain and self.on_retained else self.on_message
        started: object = None
        if handler is not None:
            try:
                started = handler(msg.topic, bytes(msg.payload))
            except Exception:  # a consumer bug must not kill the connection
                log.exception("message handler failed on %s", msg.topic)
        if not self.manual_ack or msg.qos == 0:
            return
        session, mid, qos = self.connects, msg.mid, msg.qos
        if isinstance(started, asyncio.Future):  # tasks are futures
            started.add_done_callback(lambda _: self._ack(session, mid, qos))
        else:
            self._ack(session, mid, qos)

    def _ack(self, session: int, mid: int, qos: int) -> None:
        """PUBACK a message of this session (a message id of an earlier session would
        acknowledge another message now: the broker resends those itself)."""
        if session == self.connects and self.connected.is_set():
            self._on_loop(self._client.ack, mid, qos)

    def _published(self, client: paho.Client, userdata: Any, mid: int, reason: Any,
                   properties: Any) -> None:
        future = self._pending.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(int(getattr(reason, "value", 0) or 0))

    def _subscribed(self, client: paho.Client, userdata: Any, mid: int, reasons: Any,
                    properties: Any) -> None:
        future = self._subacks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result([int(r.value) for r in reasons])
