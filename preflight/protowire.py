"""Just enough of the protobuf wire format for the few messages the probes exchange.

The tool must not depend on ``protobuf`` or ``grpcio``: installing them could change the
versions the user's Ray is pinned to. The messages we need are tiny, so we encode them here.
"""

from __future__ import annotations

from typing import Dict, List, Union

Value = Union[int, bytes]


class DecodeError(ValueError):
    pass


def varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, value: Union[bytes, str]) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return varint((number << 3) | 2) + varint(len(data)) + data


def _read_varint(data: bytes, pos: int) -> "tuple[int, int]":
    result = shift = 0
    while True:
        if pos >= len(data):
            raise DecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint too long")


def decode(data: bytes) -> Dict[int, List[Value]]:
    """Decode one message into ``{field number: [values]}`` (varints as int, others as bytes)."""
    fields: Dict[int, List[Value]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Value
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise DecodeError("truncated field")
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise DecodeError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise DecodeError("truncated field")
        fields.setdefault(number, []).append(value)
    return fields


def first_bytes(fields: Dict[int, List[Value]], number: int) -> bytes:
    for value in fields.get(number, []):
        if isinstance(value, bytes):
            return value
    return b""


def first_int(fields: Dict[int, List[Value]], number: int) -> int:
    for value in fields.get(number, []):
        if isinstance(value, int):
            return value
    return 0
