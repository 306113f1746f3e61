"""handmade_cbor.py: a tiny CBOR encoder (RFC 8949), enough to write udpchat
datagrams by hand, including the ill-formed ones the real encoder never
produces: RawText is a text string of any bytes (valid UTF-8 or not), Raw
is bytes inserted as they are. Used by test_hostile.py (through
hostile_datagrams.py), test_attacks.py and test_security.py.
"""

import struct


class RawText(bytes):
    """A CBOR text string (major type 3) of these exact bytes, valid UTF-8
    or not."""


class Raw(bytes):
    """Bytes inserted into the encoding as they are."""


def cbor_head(major, n):
    if n < 24:
        return bytes([(major << 5) | n])
    if n < 0x100:
        return bytes([(major << 5) | 24, n])
    if n < 0x10000:
        return bytes([(major << 5) | 25]) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes([(major << 5) | 26]) + n.to_bytes(4, "big")
    return bytes([(major << 5) | 27]) + n.to_bytes(8, "big")


def cbor(value):
    if isinstance(value, Raw):
        return bytes(value)
    if isinstance(value, RawText):
        return cbor_head(3, len(value)) + bytes(value)
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if value is None:
        return b"\xf6"
    if isinstance(value, int):
        return cbor_head(0, value) if value >= 0 else cbor_head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode("utf-8")
        return cbor_head(3, len(data)) + data
    if isinstance(value, (bytes, bytearray)):
        return cbor_head(2, len(value)) + bytes(value)
    if isinstance(value, (list, tuple)):
        return cbor_head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        return cbor_head(5, len(value)) + b"".join(
            cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError("cannot encode %r" % (value,))
