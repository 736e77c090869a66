"""Messages between the supervisor and a worker, over a private UNIX socket pair.

Each message is a pickle behind an 8-byte length. Pickle is safe here because both ends are the
same program: the socket pair is made by the supervisor and handed only to the worker it
starts. Large snapshots are pickled once, in a thread, and the same bytes go to every worker
(`Payload`), so that only the worker's own unpickling costs per worker.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct

_LENGTH = struct.Struct("!Q")


class Payload:
    """An object pickled in advance; the receiving side gets the object back."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    @classmethod
    def of(cls, value: object) -> Payload:
        return cls(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def load(self) -> object:
        return pickle.loads(self.data)


class Channel:
    """One end of a supervisor-worker connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.sent_bytes = 0
        """Bytes written so far (the benchmark reports message sizes from it)."""

    @classmethod
    async def open(cls, sock: socket.socket) -> Channel:
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        return cls(reader, writer)

    def send(self, message: object) -> int:
        """Queue `message`; returns its size in bytes. Never blocks: call `drain` to wait.

        Once the other end has gone, the message is dropped and the size is 0: each side learns
        of it from `receive` (EOFError), in one place, and not from whichever send came first
        (uvloop raises RuntimeError on a write to a closed transport).
        """
        if self._writer.transport.is_closing():
            return 0
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.writelines((_LENGTH.pack(len(data)), data))
        self.sent_bytes += len(data)
        return len(data)

    async def drain(self) -> None:
        await self._writer.drain()

    async def receive(self) -> object:
        """The next message; EOFError when the other end has gone."""
        try:
            (length,) = _LENGTH.unpack(await self._reader.readexactly(_LENGTH.size))
            data = await self._reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError) as err:
            raise EOFError("the other process closed the channel") from err
        return pickle.loads(data)

    def close(self) -> None:
        self._writer.close()
