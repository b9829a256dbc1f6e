"""SPDY/3.1 framing, as Kubernetes' port-forward speaks it (``moby/spdystream`` on the client side).

Only what a server of ``portforward.k8s.io`` needs: parse frames from a byte stream, answer
streams the client opens (SYN_REPLY), carry data (DATA, with FIN for half-close), reset
(RST_STREAM), answer PINGs, and notice GOAWAY. Header blocks are zlib-compressed with the
dictionary of the SPDY/3 specification, one compression context per direction for the life of
the connection, each block ending with a sync flush.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_DATA = 32 * 1024
_HEADER = struct.Struct("!IBBH")  # first word, flags, length (24 bits as one byte and two)

# The header-compression dictionary of SPDY/3 (section 2.6.10.1): length-prefixed words, then text.
_WORDS = (
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Una"
    "uthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service"
    " UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, "
    "Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,applicat"
    "ion/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf"
    "-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack("!I", len(word)) + word.encode() for word in _WORDS) + _TAIL.encode()


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3.1."""


@dataclass(frozen=True)
class Frame:
    control: bool
    kind: int  # the control frame type; 0 for DATA
    stream_id: int  # for DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, WINDOW_UPDATE; a PING's id
    flags: int
    payload: bytes

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class FrameReader:
    """Bytes in, frames out; keeps partial frames until the rest arrives."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            first, flags, high, low = _HEADER.unpack_from(self._buffer)
            length = (high << 16) | low
            if len(self._buffer) < 8 + length:
                break
            payload = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            if first & 0x80000000:
                version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
                if version != VERSION:
                    raise ProtocolError(f"SPDY version {version}, expected {VERSION}")
                stream_id = struct.unpack_from("!I", payload)[0] & 0x7FFFFFFF if len(payload) >= 4 else 0
                frames.append(Frame(True, kind, stream_id, flags, payload))
            else:
                frames.append(Frame(False, 0, first & 0x7FFFFFFF, flags, payload))
        return frames

    def headers(self, frame: Frame) -> dict[str, str]:
        """The name/value block of a SYN_STREAM (after its 10 bytes of ids and priority)."""
        if frame.kind != SYN_STREAM:
            raise ProtocolError(f"frame type {frame.kind} carries no headers here")
        block = self._inflate.decompress(frame.payload[10:])
        count = struct.unpack_from("!I", block)[0]
        offset, found = 4, {}
        for _ in range(count):
            name, offset = _string(block, offset)
            value, offset = _string(block, offset)
            found[name.lower()] = value
        return found


def _string(block: bytes, offset: int) -> tuple[str, int]:
    length = struct.unpack_from("!I", block, offset)[0]
    start = offset + 4
    return block[start : start + length].decode(), start + length


class FrameWriter:
    """Frames to bytes; owns the outgoing compression context, so frames must be sent in order."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zdict=DICTIONARY)

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None) -> bytes:
        pairs = list((headers or {}).items())
        block = struct.pack("!I", len(pairs)) + b"".join(
            struct.pack("!I", len(k)) + k.encode() + struct.pack("!I", len(v)) + v.encode() for k, v in pairs
        )
        compressed = self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        return _control(SYN_REPLY, 0, struct.pack("!I", stream_id) + compressed)

    def rst_stream(self, stream_id: int, status: int) -> bytes:
        return _control(RST_STREAM, 0, struct.pack("!II", stream_id, status))

    def goaway(self, last_stream_id: int) -> bytes:
        return _control(GOAWAY, 0, struct.pack("!II", last_stream_id, 0))

    @staticmethod
    def data(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
        return _frame(stream_id & 0x7FFFFFFF, FLAG_FIN if fin else 0, data)

    @staticmethod
    def echo(ping: Frame) -> bytes:
        return _control(PING, 0, ping.payload)


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    return _frame(0x80000000 | (VERSION << 16) | kind, flags, payload)


def _frame(first: int, flags: int, payload: bytes) -> bytes:
    length = len(payload)
    return _HEADER.pack(first, flags, length >> 16, length & 0xFFFF) + payload
