#!/usr/bin/python3
"""Writes the small image fixtures of tests/test_bad_inputs.cpp (run once; the files are
committed, so the tests need no Python). Needs Debian's python3-pil.

Every picture is the same 12x8 (width x height) pattern: a red left half, a blue right half
and a white top-left pixel, so a test can check orientation and colour after decoding."""
import io
import os
import struct

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
W, H = 12, 8


def pattern():
    image = Image.new("RGB", (W, H))
    for y in range(H):
        for x in range(W):
            image.putpixel((x, y), (220, 30, 30) if x < W // 2 else (30, 30, 220))
    image.putpixel((0, 0), (255, 255, 255))
    return image


def save(name, image, **options):
    image.save(os.path.join(HERE, name), **options)


base = pattern()
save("rgb.png", base)
save("rgba.png", base.convert("RGBA"))
save("gray.png", base.convert("L"))
save("gray_alpha.png", base.convert("LA"))
save("palette.png", base.convert("P", palette=Image.ADAPTIVE, colors=8))
# 16-bit grayscale: PIL writes mode I;16 as a 16-bit PNG.
save("gray16.png", base.convert("L").point(lambda v: v * 257, "I").convert("I;16"))
save("rgb.jpg", base, quality=95)
save("gray.jpg", base.convert("L"), quality=95)
save("cmyk.jpg", base.convert("CMYK"), quality=95)
save("one_pixel.png", Image.new("RGB", (1, 1), (10, 200, 10)))

# EXIF orientation 6 ("rotate 90 CW to display"): store the pattern rotated 90 CCW, so a reader
# that honours the tag shows the 12x8 original again.
stored = base.transpose(Image.Transpose.ROTATE_90)  # 8 wide, 12 high
exif = Image.Exif()
exif[0x0112] = 6
save("exif_rotated.jpg", stored, quality=95, exif=exif.tobytes())

# A 16-bit RGB PNG written by hand (PIL cannot): 2x1, red and blue at full 16-bit range.
def png_chunk(kind, data):
    import zlib
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def rgb16_png():
    import zlib
    header = struct.pack(">IIBBBBB", 2, 1, 16, 2, 0, 0, 0)
    row = b"\x00" + struct.pack(">HHHHHH", 65535, 0, 0, 0, 0, 65535)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) +
            png_chunk(b"IDAT", zlib.compress(row)) + png_chunk(b"IEND", b""))


with open(os.path.join(HERE, "rgb16.png"), "wb") as f:
    f.write(rgb16_png())

# A PNG header claiming 20000 x 20000 pixels (the data is a stub): must be refused from the
# header, before anything is allocated.
def huge_png():
    import zlib
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) +
            png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))


with open(os.path.join(HERE, "huge_header.png"), "wb") as f:
    f.write(huge_png())

# Truncated files: the first half of valid ones.
for name in ("rgb.png", "rgb.jpg"):
    data = open(os.path.join(HERE, name), "rb").read()
    stem, ext = os.path.splitext(name)
    with open(os.path.join(HERE, "truncated_" + stem + ext), "wb") as f:
        f.write(data[: len(data) // 2])
