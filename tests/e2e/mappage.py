"""Reading `zhilictl map` pages as a script and as a person would: the
markup (data-* attributes, order, links) with html.parser, and the pixels
of the page as headless Chromium draws it, from its PNG screenshot decoded
here (zlib and the five PNG filters: no imaging library needed).

Not a test module (run.py only loads test_*.py); test_map.py and
tests/map/screenshots.py use it."""

import os
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser


class Page(HTMLParser):
    """Every element's tag and attributes in document order, the text of
    each <title>, <style> and the document's text."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements = []          # (tag, attrs dict, index of parent svg)
        self.titles = []            # (element index of the parent, text)
        self.styles = []
        self.text = []
        self._stack = []
        self._in = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag not in ("meta", "link", "br", "img", "input", "hr"):
            self._stack.append(len(self.elements) - 1)
        if tag in ("title", "style"):
            self._in = (tag, [])

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if self._in is not None and self._in[0] == tag:
            text = "".join(self._in[1])
            if tag == "style":
                self.styles.append(text)
            else:
                parent = self._stack[-2] if len(self._stack) > 1 else None
                self.titles.append((parent, text))
            self._in = None
        while self._stack:
            i = self._stack.pop()
            if self.elements[i][0] == tag:
                break

    def handle_data(self, data):
        if self._in is not None:
            self._in[1].append(data)
        self.text.append(data)

    def all(self, tag=None, attr=None):
        return [a for t, a in self.elements
                if (tag is None or t == tag) and (attr is None or attr in a)]

    def title_of(self, attrs):
        """The <title> text of the element with these attributes."""
        for i, (t, a) in enumerate(self.elements):
            if a is attrs:
                for parent, text in self.titles:
                    if parent == i:
                        return text
        return None


def read_png(path):
    """(width, height, rows) of an 8-bit RGB or RGBA PNG; rows[y] is a bytes
    object of width * channels."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "%s: not a PNG" % path
    pos, idat, width = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = \
                struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, \
                "%s: PNG depth %d colour type %d interlace %d not read " \
                "here" % (path, depth, ctype, interlace)
            ch = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    raw = zlib.decompress(b"".join(idat))
    stride = width * ch
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(ch, stride):
                line[i] = (line[i] + line[i - ch]) & 255
        elif ftype == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif ftype == 3:
            for i in range(stride):
                left = line[i - ch] if i >= ch else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif ftype == 4:
            for i in range(stride):
                a = line[i - ch] if i >= ch else 0
                b = prev[i]
                c = prev[i - ch] if i >= ch else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, ch, rows


def pixel(png, x, y):
    width, height, ch, rows = png
    return tuple(rows[y][x * ch:x * ch + 3])


def rgb(hexcolor):
    v = int(hexcolor.lstrip("#"), 16)
    return (v >> 16 & 255, v >> 8 & 255, v & 255)


def near(a, b, tol=6):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def chromium():
    """The Chromium binary of Debian's chromium package, or None."""
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name) or ("/usr/bin/" + name
                                   if os.path.exists("/usr/bin/" + name)
                                   else None)
        if p:
            return p
    return None


def render(html_path, png_path, width, height, tmp):
    """Headless Chromium draws the page (no network, a profile of its own
    in tmp) into a PNG of width x height CSS pixels at scale 1."""
    exe = chromium()
    assert exe, "chromium not installed (sh contrib/install-deps.sh)"
    profile = os.path.join(tmp, "chromium-profile")
    os.makedirs(profile, exist_ok=True)
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu",
            "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--hide-scrollbars",
            "--force-device-scale-factor=1", "--mute-audio",
            "--user-data-dir=" + profile,
            "--window-size=%d,%d" % (width, height),
            "--screenshot=" + png_path, "file://" + html_path]
    env = dict(os.environ, HOME=tmp)
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120, env=env, cwd=tmp)
    assert p.returncode == 0 and os.path.exists(png_path), \
        "chromium failed (%s): %s" % (p.returncode,
                                      p.stderr.decode("utf-8", "replace")[-2000:])
    return read_png(png_path)


def find_origin(png, squares, size):
    """Where the SVG holding squares [(x, y, rgb)] starts on the screenshot:
    the offset at which every square's centre shows its colour (the scan
    takes each pixel of the first square's colour for its top-left
    corner).  None if there is none."""
    width, height, ch, rows = png
    x0, y0, c0 = squares[0]
    half = size // 2
    for y in range(height):
        row = rows[y]
        for x in range(width):
            if not near(tuple(row[x * ch:x * ch + 3]), c0):
                continue
            ox, oy = x - x0, y - y0
            if all(0 <= ox + sx + half < width and 0 <= oy + sy + half < height
                   and near(pixel(png, ox + sx + half, oy + sy + half), c)
                   for sx, sy, c in squares):
                return ox, oy
    return None
