"""SPDY/3.1 frames as kubectl's port-forward sends and expects them."""

from __future__ import annotations

import struct
import zlib

import pytest

from naksha.local.network.spdy import (
    DICTIONARY,
    FLAG_FIN,
    PING,
    SYN_REPLY,
    SYN_STREAM,
    FrameReader,
    FrameWriter,
    ProtocolError,
)


class Client:
    """The client half: compresses SYN_STREAM headers in one context, as spdystream does."""

    def __init__(self) -> None:
        self.deflate = zlib.compressobj(zdict=DICTIONARY)
        self.inflate = zlib.decompressobj(zdict=DICTIONARY)

    def syn_stream(self, stream_id: int, headers: dict[str, str]) -> bytes:
        block = struct.pack("!I", len(headers)) + b"".join(
            struct.pack("!I", len(k)) + k.encode() + struct.pack("!I", len(v)) + v.encode()
            for k, v in headers.items()
        )
        body = (
            struct.pack("!IIH", stream_id, 0, 0)
            + self.deflate.compress(block)
            + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        )
        return control(SYN_STREAM, body)


def control(kind: int, body: bytes, flags: int = 0) -> bytes:
    return struct.pack("!HHI", 0x8000 | 3, kind, (flags << 24) | len(body)) + body


def test_the_dictionary_is_the_specifications():
    assert len(DICTIONARY) == 1423
    assert DICTIONARY.startswith(b"\x00\x00\x00\x07options") and DICTIONARY.endswith(b",*,enq=0.")


def test_streams_opened_by_the_client_are_read_with_their_headers_across_frames_and_partial_reads():
    client, reader = Client(), FrameReader()
    wire = client.syn_stream(1, {"streamtype": "error", "port": "8080", "requestID": "0"})
    wire += client.syn_stream(3, {"streamtype": "data", "port": "8080", "requestID": "0"})
    wire += struct.pack("!IB", 3, 0) + (5).to_bytes(3, "big") + b"hello"
    frames = [frame for i in range(0, len(wire), 7) for frame in reader.feed(wire[i : i + 7])]
    assert [(f.control, f.kind, f.stream_id) for f in frames] == [
        (True, SYN_STREAM, 1),
        (True, SYN_STREAM, 3),
        (False, 0, 3),
    ]
    assert reader.headers(frames[0]) == {"streamtype": "error", "port": "8080", "requestid": "0"}
    assert reader.headers(frames[1])["streamtype"] == "data"  # the shared context carries over
    assert frames[2].payload == b"hello" and not frames[2].fin


def test_replies_data_and_pings_are_framed_for_the_client():
    writer, client = FrameWriter(), Client()
    reply = writer.syn_reply(3)
    assert struct.unpack("!HH", reply[:4]) == (0x8000 | 3, SYN_REPLY)
    assert struct.unpack("!I", reply[8:12])[0] == 3
    assert client.inflate.decompress(reply[12:]) == b"\x00\x00\x00\x00"  # no headers
    fin = writer.data(3, b"", fin=True)
    assert fin == struct.pack("!IB", 3, FLAG_FIN) + b"\x00\x00\x00"
    ping = FrameReader().feed(control(PING, struct.pack("!I", 7)))[0]
    assert writer.echo(ping) == control(PING, struct.pack("!I", 7))


def test_another_spdy_version_is_refused():
    with pytest.raises(ProtocolError, match="version 2"):
        FrameReader().feed(struct.pack("!HHI", 0x8000 | 2, SYN_STREAM, 0))
