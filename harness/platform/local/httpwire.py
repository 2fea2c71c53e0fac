"""Just enough HTTP/1.1 on asyncio streams for the demo shop and the fault proxy.

Message heads are parsed once; bodies are framed by Content-Length, chunked transfer coding, or
(responses only) by the end of the connection. Bodies are forwarded byte for byte, never re-encoded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from typing import Any

MAX_HEAD_BYTES = 64 * 1024
_COPY_CHUNK = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})

_Sink = Callable[[bytes], object]


class WireError(Exception):
    """The peer sent something that is not HTTP/1.1 we can frame."""


class Framing(Enum):
    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    UNTIL_EOF = "until-eof"


@dataclass(frozen=True)
class Head:
    """A request or status line with its header fields, and the raw bytes to forward unchanged."""

    start_line: str
    headers: tuple[tuple[str, str], ...]
    raw: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def version(self) -> str:
        parts = self.start_line.split(" ", 2)
        return parts[0] if parts[0].startswith("HTTP/") else parts[-1]

    def wants_close(self) -> bool:
        """True when this message ends the connection (Connection: close, or HTTP/1.0 by default)."""
        tokens = {t.strip().lower() for t in (self.header("connection") or "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    head: Head

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


async def read_head(reader: asyncio.StreamReader) -> Head | None:
    """Read one message head; None on a clean end of stream before its first byte."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if not err.partial:
            return None
        raise WireError("connection closed inside a message head") from err
    except asyncio.LimitOverrunError as err:
        raise WireError(f"message head longer than {MAX_HEAD_BYTES} bytes") from err
    lines = raw[:-4].decode("latin-1").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise WireError(f"malformed header line {line!r}")
        headers.append((name, value.strip()))
    return Head(start_line=lines[0], headers=tuple(headers), raw=raw)


def parse_request(head: Head) -> Request:
    parts = head.start_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise WireError(f"malformed request line {head.start_line!r}")
    return Request(method=parts[0], target=parts[1], head=head)


def status_of(head: Head) -> int:
    parts = head.start_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise WireError(f"malformed status line {head.start_line!r}")
    return int(parts[1])


def _length_of(head: Head) -> int:
    text = head.header("content-length") or ""
    if not text.isdigit():
        raise WireError(f"bad Content-Length {text!r}")
    return int(text)


def _is_chunked(head: Head) -> bool:
    coding = (head.header("transfer-encoding") or "").lower()
    return coding.rsplit(",", 1)[-1].strip() == "chunked"


def request_framing(head: Head) -> Framing:
    if _is_chunked(head):
        return Framing.CHUNKED
    if head.header("content-length") is not None:
        return Framing.LENGTH if _length_of(head) > 0 else Framing.NONE
    return Framing.NONE


def response_framing(head: Head, request_method: str) -> Framing:
    status = status_of(head)
    if request_method == "HEAD" or status < 200 or status in _NO_BODY_STATUSES:
        return Framing.NONE
    if _is_chunked(head):
        return Framing.CHUNKED
    if head.header("content-length") is not None:
        return Framing.LENGTH if _length_of(head) > 0 else Framing.NONE
    return Framing.UNTIL_EOF


async def read_body(reader: asyncio.StreamReader, head: Head, framing: Framing) -> bytes:
    """The body exactly as sent (chunked bodies keep their chunk framing)."""
    parts: list[bytes] = []
    await _pump(reader, head, framing, parts.append, None)
    return b"".join(parts)


async def copy_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: Head, framing: Framing
) -> None:
    """Forward a body as it arrives, draining the writer so slow readers apply back-pressure."""
    await _pump(reader, head, framing, writer.write, writer)


async def _pump(
    reader: asyncio.StreamReader,
    head: Head,
    framing: Framing,
    sink: _Sink,
    writer: asyncio.StreamWriter | None,
) -> None:
    try:
        if framing is Framing.LENGTH:
            await _pump_exact(reader, _length_of(head), sink, writer)
        elif framing is Framing.CHUNKED:
            await _pump_chunked(reader, sink, writer)
        elif framing is Framing.UNTIL_EOF:
            while chunk := await reader.read(_COPY_CHUNK):
                sink(chunk)
                if writer is not None:
                    await writer.drain()
    except asyncio.IncompleteReadError as err:
        raise WireError("connection closed inside a message body") from err


async def _pump_exact(
    reader: asyncio.StreamReader, remaining: int, sink: _Sink, writer: asyncio.StreamWriter | None
) -> None:
    while remaining > 0:
        chunk = await reader.read(min(remaining, _COPY_CHUNK))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", remaining)
        remaining -= len(chunk)
        sink(chunk)
        if writer is not None:
            await writer.drain()


async def _pump_chunked(
    reader: asyncio.StreamReader, sink: _Sink, writer: asyncio.StreamWriter | None
) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        sink(size_line)
        size_text = size_line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as err:
            raise WireError(f"bad chunk size {size_text!r}") from err
        if size == 0:
            break
        await _pump_exact(reader, size + 2, sink, writer)
    while True:  # trailer fields, then the empty line that ends the body
        line = await reader.readuntil(b"\r\n")
        sink(line)
        if line == b"\r\n":
            return


def render_response(
    status: int,
    reason: str,
    body: bytes,
    *,
    content_type: str,
    close: bool,
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """A complete response with Content-Length (never chunked)."""
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in extra]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a server's main coroutine, on uvloop when it is installed: the proxy and the replicas
    then spend less of this machine's CPU per request, which the load generator shares."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)
