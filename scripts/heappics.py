#!/usr/bin/env python3
"""heappics.py — pictures of the heap and the collector from a serial log.

  heappics.py heapmap LOG OUT.png    every arena's 8192 pages, coloured by state
                                     and size band (from `heapmap -f` lines)
  heappics.py gcplot LOG OUT.png     heap at each cycle's start, live after it,
                                     and the goal, per cycle, GOGC marked (from
                                     the `stat gc` records of `stats` / `stats -f`)
  heappics.py check PNG [PNG...]     a PNG is well formed, at least 200x150, and
                                     not blank (several colours, enough ink)
  heappics.py --selftest             the parsers and the checker on made-up input

The drawing is gnuplot's (Debian's gnuplot-nox, installed by
scripts/install-deps.sh); the check decodes the PNG with the standard library
only.  With several dumps in one log, the last one is drawn.  A log without
the lines needed says what is missing and which word or command prints them.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

# page character -> (code, label, colour); the order is the colour box's
BANDS = [
    ("_", "scavenged", "#e8e8e8"), (".", "free", "#ffffff"),
    ("a", "<=64 B", "#1b9e77"), ("b", "<=512 B", "#66a61e"), ("c", "<=4 KiB", "#e6ab02"),
    ("d", "<=32 KiB", "#d95f02"), ("A", "kmalloc <=64 B", "#7fc4e8"),
    ("B", "kmalloc <=512 B", "#3f8fd0"), ("C", "kmalloc <=4 KiB", "#2653a8"),
    ("D", "kmalloc <=32 KiB", "#142a6e"), ("L", "large", "#e7298a"), ("l", "kmalloc large", "#9e1a5e"),
    ("S", "stack", "#7570b3"), ("M", "manual", "#555555"), ("?", "no span (bug)", "#ff0000"),
]
CODE = {c: i for i, (c, _, _) in enumerate(BANDS)}
HEAPMAP_RE = re.compile(r"^heapmap (\d+) (\d+) (.{64})\s*$")
STAT_GC_RE = re.compile(r"^stat gc n (\d+) trigger (\w+) forced (\d) ncpu \d+ gogc (-?\d+) "
                        r"start_ns (\d+) heap0 (\d+) heap1 (\d+) marked (\d+) goal (\d+) next_goal (\d+)")

ROWS, COLS = 64, 128  # an arena drawn as 64 rows of 128 pages (1 MiB per row)
GRID = 4              # arenas per row of the picture
GAP = 6               # pages between arenas


def parse_heapmap(text):
    """{arena: [8192 chars]} of the last complete `heapmap -f` dump."""
    dumps, cur = [], None
    for line in text.splitlines():
        m = HEAPMAP_RE.match(line)
        if m:
            k, r = int(m.group(1)), int(m.group(2))
            if cur is None or (k, r) in cur["seen"]:
                cur = {"seen": set(), "arenas": {}}
                dumps.append(cur)
            cur["seen"].add((k, r))
            cur["arenas"].setdefault(k, ["_"] * 8192)[r * 64:(r + 1) * 64] = list(m.group(3))
        elif line.startswith("heapmap pages:"):
            cur = None
    return dumps[-1]["arenas"] if dumps else None


def parse_gc(text):
    """[(n, trigger, forced, gogc, start_s, heap0, heap1, marked, goal)] per cycle, last record wins."""
    recs = {}
    for line in text.splitlines():
        m = STAT_GC_RE.match(line)
        if m:
            g = m.groups()
            recs[int(g[0])] = (int(g[0]), g[1], int(g[2]), int(g[3]), int(g[4]) / 1e9,
                               int(g[5]), int(g[6]), int(g[7]), int(g[8]))
    return [recs[k] for k in sorted(recs)]


def gnuplot(script, cwd):
    p = subprocess.run(["gnuplot"], input=script.encode(), cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode:
        sys.exit("heappics: gnuplot failed:\n" + p.stdout.decode(errors="replace"))


def draw_heapmap(arenas, out):
    keys = sorted(arenas)
    nrow = (len(keys) + GRID - 1) // GRID
    ncol = min(len(keys), GRID)
    W, H = ncol * (COLS + GAP) - GAP, nrow * (ROWS + GAP) - GAP
    grid = [["NaN"] * W for _ in range(H)]
    labels = []
    for i, k in enumerate(keys):
        x0, y0 = (i % GRID) * (COLS + GAP), (i // GRID) * (ROWS + GAP)
        for p, ch in enumerate(arenas[k]):
            grid[y0 + p // COLS][x0 + p % COLS] = str(CODE.get(ch, CODE["?"]))
        labels.append((x0, y0, k))
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "map.dat"), "w") as f:
            for row in grid:
                f.write(" ".join(row) + "\n")
        pal = ", ".join(f"{i} '{c}'" for i, (_, _, c) in enumerate(BANDS))
        tics = ", ".join(f"'{lab}' {i}" for i, (_, lab, _) in enumerate(BANDS))
        lab = "\n".join(f"set label {j + 1} 'arena {k}' at {x0},{y0 - 1.5} font ',8'\n"
                        f"set object {j + 1} rect from {x0 - 0.5},{y0 - 0.5} to {x0 + COLS - 0.5},"
                        f"{y0 + ROWS - 0.5} fs empty border lc rgb '#999999' front"
                        for j, (x0, y0, k) in enumerate(labels))
        n = len(BANDS)
        used = sum(1 for a in arenas.values() for ch in a if ch not in "_.")
        cell = 4 if len(keys) <= 8 else 2  # pixels per page
        pw, ph = max(400, cell * W), cell * H
        gnuplot(f"""
set terminal pngcairo size {pw + 240},{ph + 120} font ',9'
set output '{os.path.abspath(out)}'
set title 'gokernel heap: {len(keys)} arena(s) of 8192 pages (8 KiB), one cell per page, 128 per row; {used} pages in spans'
unset key
set xrange [-0.5:{W - 0.5}]
set yrange [{H + 2}:-4] noreverse
unset xtics
unset ytics
set border 0
set palette defined ({pal})
set palette maxcolors {n}
set cbrange [-0.5:{n - 0.5}]
set cbtics ({tics}) scale 0
set lmargin at screen {10 / (pw + 240):.4f}
set rmargin at screen {(pw + 10) / (pw + 240):.4f}
set tmargin at screen {1 - 60 / (ph + 120):.4f}
set bmargin at screen {20 / (ph + 120):.4f}
set colorbox user origin screen {(pw + 40) / (pw + 240):.4f},0.1 size screen 0.02,0.8
{lab}
plot 'map.dat' matrix with image
""", d)


def draw_gcplot(recs, out):
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "gc.dat"), "w") as f:
            for r in recs:
                n, trig, forced, gogc, t, heap0, heap1, marked, goal = r
                f.write(f"{n} {heap0 / 2**20:.3f} {marked / 2**20:.3f} {goal / 2**20:.3f} {gogc}\n")
        marks, last = [], None
        for r in recs:
            if r[3] != last:
                marks.append((r[0], r[3]))
                last = r[3]
        arrows = "\n".join(
            f"set arrow {j + 1} from {n - 0.5}, graph 0 to {n - 0.5}, graph 1 nohead dt 2 lc rgb '#888888'\n"
            f"set label {j + 1} 'GOGC={'off' if g < 0 else g}' at {n - 0.3}, graph {0.97 - 0.05 * (j % 2)} font ',8'"
            for j, (n, g) in enumerate(marks))
        gnuplot(f"""
set terminal pngcairo size 1000,520 font ',10'
set output '{os.path.abspath(out)}'
set title 'gokernel collector: {len(recs)} cycles (from the stat gc records)'
set xlabel 'cycle'
set ylabel 'MiB'
set key top left
set grid ytics lc rgb '#dddddd'
{arrows}
plot 'gc.dat' using 1:4 with steps lw 2 lc rgb '#d95f02' title 'goal', \\
     '' using 1:2 with linespoints pt 7 ps 0.5 lc rgb '#1b9e77' title 'heap at the cycle start', \\
     '' using 1:3 with linespoints pt 5 ps 0.5 lc rgb '#7570b3' title 'marked (live after)'
""", d)


# ------------------------------------------------------------ PNG check

def png_pixels(path):
    """(width, height, rows of bytes per pixel tuples) of an 8-bit PNG."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, idat, w = 8, b"", None
    while pos < len(data):
        ln, typ = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + ln]
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif typ == b"IDAT":
            idat += body
        pos += 12 + ln
    if w is None or depth != 8 or ctype not in (0, 2, 4, 6):
        raise ValueError("unsupported PNG (want 8-bit grey/RGB/RGBA)")
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def check_png(path, min_colours=4, min_ink=0.01):
    """'' when the PNG looks like a real picture, else what is wrong."""
    try:
        w, h, bpp, rows = png_pixels(path)
    except (OSError, ValueError, zlib.error, struct.error) as e:
        return f"{path}: {e}"
    if w < 200 or h < 150:
        return f"{path}: {w}x{h} is too small"
    counts = {}
    for r in rows[::2]:
        for x in range(0, w * bpp, bpp * 2):
            px = r[x:x + bpp]
            counts[px] = counts.get(px, 0) + 1
    total = sum(counts.values())
    bg = max(counts.values())
    if len(counts) < min_colours or (total - bg) / total < min_ink:
        return f"{path}: blank ({len(counts)} colours, {100 * (total - bg) / total:.2f}% not background)"
    return ""


# ------------------------------------------------------------ main

def need(what, word):
    sys.exit(f"heappics: the log has no {what} (boot with the `{word}` word, or run it in the shell)")


def selftest():
    ok = fail = 0

    def t(cond, name):
        nonlocal ok, fail
        print(("ok" if cond else "not ok") + f" - heappics: {name}")
        ok, fail = ok + bool(cond), fail + (not cond)

    row = "a" * 10 + "." * 54
    log = "\n".join([f"heapmap 1 {r} {row if r == 0 else '_' * 64}" for r in range(128)] +
                    ["heapmap pages: x", "heapmap 1 0 " + "L" * 64])
    m = parse_heapmap(log)
    t(m is not None and m[1][0] == "L" and m[1][64] == "_", "the last dump wins, rows land at their pages")
    t(parse_heapmap("stat gc n 1") is None, "no heapmap lines: None")
    gl = ("stat gc n 2 trigger heap forced 0 ncpu 2 gogc 50 start_ns 2000000000 heap0 5000000 heap1 5000000 "
          "marked 1000000 goal 4194304 next_goal 4194304 stacks 1 globals 2\n"
          "stat gc n 1 trigger cycle forced 1 ncpu 2 gogc 100 start_ns 1000000000 heap0 0 heap1 0 "
          "marked 0 goal 4194304 next_goal 4194304 stacks 1 globals 2")
    r = parse_gc(gl)
    t([x[0] for x in r] == [1, 2] and r[1][3] == 50 and r[1][5] == 5000000, "stat gc records sorted by cycle")
    with tempfile.TemporaryDirectory() as d:
        def png(path, w, h, pixel):
            raw = b"".join(b"\x00" + bytes(pixel(x, y) for x in range(w) for _ in range(1)) for y in range(h))
            chunk = lambda typ, body: struct.pack(">I", len(body)) + typ + body + struct.pack(">I", zlib.crc32(typ + body))
            open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                                   + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
        blank, small, good = (os.path.join(d, n) for n in ("blank.png", "small.png", "good.png"))
        png(blank, 300, 200, lambda x, y: 255)
        png(small, 100, 100, lambda x, y: (x * 7 + y) % 256)
        png(good, 300, 200, lambda x, y: 255 if x < 200 else (x * 13 + y * 3) % 200)
        t("blank" in check_png(blank), "check: a one-colour PNG is blank")
        t("too small" in check_png(small), "check: a 100x100 PNG is too small")
        t(check_png(good) == "", "check: a PNG with a picture passes")
        open(os.path.join(d, "x.png"), "wb").write(b"GIF89a")
        t("not a PNG" in check_png(os.path.join(d, "x.png")), "check: a non-PNG is refused")
        empty = os.path.join(d, "empty.log")
        open(empty, "w").write("gokernel: starting\n")
        for kind, word in (("heapmap", "`heapmap`"), ("gcplot", "`stats`")):
            try:
                main(["heappics.py", kind, empty, os.path.join(d, "o.png")])
                msg = ""
            except SystemExit as e:
                msg = str(e.code)
            t(word in msg and not os.path.exists(os.path.join(d, "o.png")),
              f"{kind}: a log without its lines names the word that prints them")
    print(f"{ok} passed, {fail} failed")
    return 1 if fail else 0


def main(argv):
    if argv[1:2] == ["--selftest"]:
        return selftest()
    if len(argv) >= 3 and argv[1] == "check":
        bad = [e for e in (check_png(p) for p in argv[2:]) if e]
        for e in bad:
            print("heappics: " + e)
        if not bad:
            print("heappics: " + ", ".join(argv[2:]) + ": not blank")
        return 1 if bad else 0
    if len(argv) != 4 or argv[1] not in ("heapmap", "gcplot"):
        sys.exit(__doc__.strip().split("\n\n")[0])
    text = open(argv[2], errors="replace").read()
    if argv[1] == "heapmap":
        arenas = parse_heapmap(text)
        if not arenas:
            need("`heapmap -f` lines", "heapmap")
        draw_heapmap(arenas, argv[3])
        print(f"heappics: {argv[3]}: {len(arenas)} arena(s)")
    else:
        recs = parse_gc(text)
        if not recs:
            need("`stat gc` records", "stats")
        draw_gcplot(recs, argv[3])
        print(f"heappics: {argv[3]}: {len(recs)} cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
