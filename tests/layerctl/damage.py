"""Damaging compressed layer blobs in one precise place: a gzip member's
CRC-32 or ISIZE, a zstd frame's content checksum, an xz block's check, or
bytes after the end. The uncompressed content stays the same, so only a
reader that checks the stream to its end can tell."""
import gzip
import struct


def flip_byte(data, at):
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def gzip_bad_crc(blob):
    """The last member's CRC-32 (the trailer's first 4 bytes) changed."""
    return flip_byte(blob, len(blob) - 8)


def gzip_bad_isize(blob):
    """The last member's ISIZE (the trailer's last 4 bytes) changed."""
    return flip_byte(blob, len(blob) - 4)


def gzip_members(data, parts):
    """A valid multi-member gzip of data: parts members back to back."""
    step = max(1, len(data) // parts)
    cuts = [data[i:i + step] for i in range(0, len(data), step)]
    return b"".join(gzip.compress(c, mtime=0) for c in cuts)


def zstd_bad_checksum(blob):
    """A one-frame zstd blob whose content checksum (its last 4 bytes) is off."""
    desc = blob[4]
    assert blob[:4] == b"\x28\xb5\x2f\xfd" and desc & 0x04, "no content checksum"
    return flip_byte(blob, len(blob) - 1)


def _varint(data, at):
    value, shift = 0, 0
    while True:
        b = data[at]
        at += 1
        value |= (b & 0x7f) << shift
        shift += 7
        if not b & 0x80:
            return value, at


def xz_bad_check(blob):
    """A one-stream xz blob whose first block's check (CRC-64 by default) is
    off: found through the stream footer and the index."""
    assert blob[:6] == b"\xfd7zXZ\x00" and blob[-2:] == b"YZ"
    check_id = blob[7] & 0x0f
    check_size = {0: 0, 1: 4, 4: 8, 10: 32}[check_id]
    assert check_size, "no check"
    backward = (struct.unpack("<I", blob[-8:-4])[0] + 1) * 4
    index = len(blob) - 12 - backward
    assert blob[index] == 0
    nrecords, at = _varint(blob, index + 1)
    assert nrecords >= 1
    unpadded, at = _varint(blob, at)
    body = unpadded - check_size          # block header + compressed data
    check_at = 12 + body + (-body % 4)
    return flip_byte(blob, check_at)
