"""SPDY/3 frames: every type round-trips through encode/decode, header blocks share one zlib context per
direction, and bad input (wrong version, corrupt zlib, bombs, upper-case names, short frames) is refused."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from ketch.cri import spdy
from ketch.cri.spdy import (
    DICTIONARY,
    Data,
    GoAway,
    HeaderCodec,
    Headers,
    Ping,
    RstStream,
    Settings,
    SpdyError,
    SynReply,
    SynStream,
    WindowUpdate,
    decode_frame,
    encode_frame,
)

FIXTURE = [("url", "http://www.google.com/"), ("method", "get"), ("version", "http/1.1")]


def _roundtrip(frame: spdy.Frame, tx: HeaderCodec | None = None, rx: HeaderCodec | None = None) -> spdy.Frame | None:
    raw = encode_frame(frame, tx or HeaderCodec())
    assert struct.unpack(">I", raw[4:8])[0] & 0xFFFFFF == len(raw) - 8
    return decode_frame(raw[:8], raw[8:], rx or HeaderCodec())


def test_dictionary_is_the_spdy3_one() -> None:
    # The draft's dictionary is 1423 bytes; its Adler-32 is the DICTID every SPDY/3 zlib stream names, so a
    # single wrong byte here makes every peer's inflate fail (checked against containerd in the
    # integration tests).
    assert len(DICTIONARY) == 1423
    assert zlib.adler32(DICTIONARY) == 0xE3C6A7C2
    assert DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


@pytest.mark.parametrize("frame", [
    Data(1, b"hello"),
    Data(0x7FFFFFFF, b"", spdy.FLAG_FIN),
    SynStream(2, FIXTURE),
    SynStream(3, [("streamtype", "error")], spdy.FLAG_FIN | spdy.FLAG_UNIDIRECTIONAL, 1, 7, 1),
    SynReply(2, FIXTURE),
    SynReply(5, [], spdy.FLAG_FIN),
    Headers(2, FIXTURE),
    RstStream(1, spdy.INVALID_STREAM),
    Settings([(1, 5, 10), (2, 1, 1)]),
    Ping(31337),
    GoAway(31337, 1),
    WindowUpdate(31337, 1),
    WindowUpdate(0, 0x7FFFFFFF),
])
def test_frames_round_trip(frame: spdy.Frame) -> None:
    assert _roundtrip(frame) == frame


def test_wire_layout_of_control_and_data_frames() -> None:
    assert encode_frame(Ping(1), HeaderCodec()) == bytes.fromhex("80030006 00000004 00000001")
    assert encode_frame(Data(5, b"ab", 1), HeaderCodec()) == bytes.fromhex("00000005 01000002 6162")
    assert encode_frame(WindowUpdate(3, 100), HeaderCodec()) == bytes.fromhex("80030009 00000008 00000003 00000064")
    assert encode_frame(RstStream(3, 5), HeaderCodec()) == bytes.fromhex("80030003 00000008 00000003 00000005")


def test_header_block_is_zlib_with_the_dictionary() -> None:
    block = HeaderCodec().encode([("streamtype", "stdout")])
    assert block[:2] == b"\x78\xf9"  # zlib header with FDICT set
    assert block[2:6] == struct.pack(">I", zlib.adler32(DICTIONARY))
    assert block.endswith(b"\x00\x00\xff\xff")  # sync flush (draft section 2.6.10)
    raw = zlib.decompressobj(zdict=DICTIONARY).decompress(block)
    assert raw == struct.pack(">I", 1) + struct.pack(">I", 10) + b"streamtype" + struct.pack(">I", 6) + b"stdout"


def test_compression_context_spans_frames_and_joins_values() -> None:
    tx, rx = HeaderCodec(), HeaderCodec()
    frames = [Headers(2, FIXTURE), SynStream(2, FIXTURE, slot=1), SynStream(4, [("port", "80"), ("port", "81")])]
    raws = [encode_frame(f, tx) for f in frames]
    assert len(raws[1]) < len(raws[0])  # the second block refers back to the first
    assert [decode_frame(r[:8], r[8:], rx) for r in raws] == frames
    assert b"80\x0081" in zlib.decompressobj(zdict=DICTIONARY).decompress(
        HeaderCodec().encode([("Port", "80"), ("port", "81")]))
    with pytest.raises(SpdyError, match="does not inflate"):  # a fresh context cannot read the third block
        HeaderCodec().decode(raws[2][18:])


def test_corrupt_zlib_header_is_refused() -> None:
    # moby/spdystream's malformed SYN_STREAM (first zlib byte corrupted), moved to version 3.
    raw = bytearray(base64.b64decode("gAIAAQAAABgAAAACAAAAAAAAF/nfolGyYmAAAAAA//8="))
    with pytest.raises(SpdyError, match="version 2"):
        decode_frame(bytes(raw[:8]), bytes(raw[8:]), HeaderCodec())
    raw[1] = 3
    with pytest.raises(SpdyError, match="does not inflate"):
        decode_frame(bytes(raw[:8]), bytes(raw[8:]), HeaderCodec())


def test_header_bomb_and_bad_names_are_refused() -> None:
    c = zlib.compressobj(zdict=DICTIONARY)
    bomb = c.compress(struct.pack(">I", 1) + struct.pack(">I", 1) + b"a" + struct.pack(">I", 4 << 20)
                      + bytes(4 << 20)) + c.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 10000
    with pytest.raises(SpdyError, match="inflates past"):
        HeaderCodec().decode(bomb)
    c = zlib.compressobj(zdict=DICTIONARY)
    upper = c.compress(struct.pack(">I", 1) + struct.pack(">I", 4) + b"Port" + struct.pack(">I", 2) + b"80")
    with pytest.raises(SpdyError, match="not lower case"):
        HeaderCodec().decode(upper + c.flush(zlib.Z_SYNC_FLUSH))
    c = zlib.compressobj(zdict=DICTIONARY)
    short = c.compress(struct.pack(">I", 2) + struct.pack(">I", 4) + b"port" + struct.pack(">I", 2) + b"80")
    with pytest.raises(SpdyError, match="truncated"):
        HeaderCodec().decode(short + c.flush(zlib.Z_SYNC_FLUSH))


def test_short_control_frames_and_unknown_types() -> None:
    with pytest.raises(SpdyError, match="RST_STREAM frame of 4 bytes"):
        decode_frame(bytes.fromhex("80030003 00000004"), b"\0\0\0\1", HeaderCodec())
    with pytest.raises(SpdyError, match="SETTINGS"):
        decode_frame(bytes.fromhex("80030004 00000004"), struct.pack(">I", 3), HeaderCodec())
    # CREDENTIAL (10) and anything newer are ignored, as the draft asks.
    assert decode_frame(bytes.fromhex("8003000a 00000002"), b"\0\0", HeaderCodec()) is None
