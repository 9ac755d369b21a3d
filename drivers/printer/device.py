"""An ESC/POS printer over any transport: its status before the jobs, then each job followed by
a status query whose answer confirms the printer has read the job."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from drivers.printer import status as st
from drivers.printer.base import PrinterError, Transport
from drivers.printer.config import PrinterConfig
from drivers.printer.registry import TRANSPORTS


class EscPosPrinter:
    """Implements :class:`~drivers.printer.base.Printer`. One connection per send."""

    def __init__(self, config: PrinterConfig,
                 transport: Callable[[PrinterConfig], Transport] | None = None) -> None:
        self.name, self.config = config.name, config
        self._transport = transport or TRANSPORTS[config.type]
        self._pipe: Transport | None = None  # the one in use, for abort()

    def status(self) -> st.PrinterStatus | None:
        pipe = self._open()
        try:
            return self._query(pipe)
        finally:
            self._close(pipe)

    def send(self, jobs: Sequence[bytes],
             ready: Callable[[], None] | None = None) -> st.PrinterStatus | None:
        pipe = self._open()
        try:
            status = self._query(pipe)
            if status is not None and not status.printable:
                raise PrinterError(status.state, "reported by the printer before the job")
            if ready is not None:
                ready()  # the last moment nothing has been sent
            for done, data in enumerate(jobs):
                try:
                    pipe.write(data)
                    # the answer to a status query sent after a job means the printer has read
                    # every byte of it (real-time commands are taken in the order they arrive)
                    status = self._query(pipe, st.QUERIES if done == len(jobs) - 1 else
                                         (st.PRINTER,))
                except PrinterError as exc:
                    exc.printed = done
                    raise
                if status is not None and not status.printable and done < len(jobs) - 1:
                    raise PrinterError(status.state, "reported after a job", printed=done + 1)
            return status
        finally:
            self._close(pipe)

    def abort(self) -> None:
        """Break off what is in progress (called from another thread, at shutdown)."""
        pipe = self._pipe
        if pipe is not None:
            pipe.close()

    def _open(self) -> Transport:
        pipe = self._transport(self.config)
        pipe.open()
        self._pipe = pipe
        return pipe

    def _close(self, pipe: Transport) -> None:
        self._pipe = None
        pipe.close()

    def _query(self, pipe: Transport, queries: Sequence[int] = st.QUERIES
               ) -> st.PrinterStatus | None:
        if not (pipe.can_read and self.config.status):
            return None
        answers = {}
        for n in queries:
            pipe.write(st.query(n))
            got = pipe.read(1, self.config.timeout_s)
            if not got:
                raise PrinterError("no_answer", f"no answer to DLE EOT {n} within "
                                                f"{self.config.timeout_s:g} s")
            answers[n] = got[-1]
        try:
            return st.parse(answers)
        except ValueError as exc:
            raise PrinterError("error", str(exc)) from exc


def open_printer(config: PrinterConfig) -> EscPosPrinter:
    return EscPosPrinter(config)
