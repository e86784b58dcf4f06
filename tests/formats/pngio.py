"""Gray and palette PNGs read and written without an imaging library, for
the tests that write the golden cases in other forms."""
import struct
import zlib

import numpy as np


def read_png(path):
    """Gray (8/16-bit) or palette PNG, not interlaced, as a 2-D array of
    values (palette: indices): a small decoder, so that the test needs no
    imaging library."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat = 8, b""
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w = int.from_bytes(body[0:4], "big")
            h = int.from_bytes(body[4:8], "big")
            depth, ctype, interlace = body[8], body[9], body[12]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert ctype in (0, 3) and interlace == 0 and depth in (8, 16), path
    bpp = depth // 8
    raw = zlib.decompress(idat)
    stride = w * bpp
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, np.int32)
        for x in range(stride):
            a = cur[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 0:
                v = line[x]
            elif f == 1:
                v = line[x] + a
            elif f == 2:
                v = line[x] + b
            elif f == 3:
                v = line[x] + (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                v = line[x] + pr
            cur[x] = v & 255
        out[y] = cur
        prev = cur
    if bpp == 2:
        return (out[:, 0::2].astype(np.uint16) << 8) | out[:, 1::2]
    return out.astype(np.uint16)


def write_png(path, a, depth=8):
    """8-bit (or 16-bit) gray PNG (no imaging library)."""
    h, w = a.shape
    t = np.uint8 if depth == 8 else np.dtype(">u2")
    raw = b"".join(b"\x00" + a[y].astype(t).tobytes() for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0)) +
                 chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
