#!/usr/bin/env python3
"""test_screen.py — the screen console (kernel/fbcon.c), seen through QEMU's screendump.

  test_screen.py PPM SERIAL_LOG [--off]   check one screendump against its boot's log
  test_screen.py --selftest               the checker on made-up screens (TAP)

A screen configuration of tests/qemu/run.py (`screen="on"` or `"off"`) boots
with `test=quick shell`, the serial port on a socket and a QMP socket
(boot_and_dump).  When the shell's prompt has arrived on serial, the harness
takes a screendump (PPM) and only then sends end-of-input (0x04), so the
kernel powers off.  Nothing depends on timing: the kernel waits in its shell
for as long as the dump takes, and it draws each piece of output on the
screen before sending it to serial (kernel/printf.c), so the prompt on
serial means the pixels are there.

The check (check_screen) predicts the screen from the serial log: the
kernel's output (from its first line, "gokernel: starting") fed through a
model of fbcon.c's rules (Console: wrapping, '\\n', '\\r', '\\b', tabs,
escape sequences skipped, the jump scroll by a quarter of the rows), each
character rendered with the kernel's own font (the pictures in
kernel/font8x16.c, expanded the same way) in its colours.  It reports:
  - ink: non-background pixels in the console area, and the fraction of
    the area they cover, which must be plausible for text (0.5%..40%);
  - cells: how many character cells of the screendump equal the
    prediction pixel for pixel; all of them must.
The "panic" configuration types `cpus panic 1` at the prompt instead and
boots without isa-debug-exit, so the kernel halts after its last line
("PANIC on cpu 1: ..."); the harness takes the screendump then and quits
QEMU through QMP: the panic must be on the screen too.
With `fbcon=off` the kernel leaves the framebuffer alone (it keeps the
loader's and firmware's last picture), so the same check must fail: the
"off" configuration passes only when the check finds the kernel's text
missing (the negative control).
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FONT_C = os.path.join(ROOT, "kernel", "font8x16.c")
CELL_W, CELL_H = 8, 16
FG = (0xE0, 0xE0, 0xC0)  # kernel/fbcon.c FG_R/G/B
BG = (0, 0, 0)
INK_RANGE = (0.005, 0.40)
FIRST_LINE = b"gokernel: starting"
MAX_COLS, MAX_ROWS = 256, 128  # kernel/fbcon.h FBCON_MAX_COLS/ROWS
FBCON_RE = re.compile(r"^fbcon: (\d+)x(\d+) \((\d+)x(\d+) chars\) at 0x[0-9a-f]+", re.M)


# ---------------------------------------------------------------- the font
def load_font(path=FONT_C):
    """{byte: 16 row bytes} from the pictures in kernel/font8x16.c, expanded
    as font8x16_init does: rows doubled, shifted one column right."""
    text = open(path).read()
    body = text[text.index("pictures[FONT_COUNT]"):]
    pics = [m.group(0) for m in re.finditer(r'(?:"[.#]{5}"\s*){8}', body)]
    if len(pics) != 95:
        raise ValueError(f"{path}: {len(pics)} glyph pictures, want 95")
    font = {}
    for i, pic in enumerate(pics):
        rows = re.findall(r'"([.#]{5})"', pic)
        glyph = []
        for r in range(CELL_H):
            bits = 0
            for x, px in enumerate(rows[r // 2]):
                if px == "#":
                    bits |= 0x80 >> (x + 1)
            glyph.append(bits)
        font[0x20 + i] = glyph
    return font


# ---------------------------------------------------------------- the text model
class Console:
    """kernel/fbcon.c's text rules on a cols x rows grid."""

    def __init__(self, cols, rows):
        self.cols, self.rows = cols, rows
        self.grid = [[" "] * cols for _ in range(rows)]
        self.row = self.col = 0
        self.esc = 0  # 0 none, 1 ESC seen, 2 inside ESC [ ...

    def newline(self):
        self.col = 0
        if self.row + 1 < self.rows:
            self.row += 1
            return
        k = self.rows // 4 if self.rows >= 4 else 1  # the jump scroll
        self.grid = self.grid[k:] + [[" "] * self.cols for _ in range(k)]
        self.row = self.rows - k

    def glyph(self, ch):
        if self.col >= self.cols:
            self.newline()
        self.grid[self.row][self.col] = ch
        self.col += 1

    def feed(self, data):
        for c in data:
            if self.esc == 1:
                self.esc = 2 if c == 0x5B else 0
            elif self.esc == 2:
                if 0x40 <= c <= 0x7E:
                    self.esc = 0
            elif c == 0x1B:
                self.esc = 1
            elif 0x20 <= c <= 0x7E:
                self.glyph(chr(c))
            elif c == 0x0A:
                self.newline()
            elif c == 0x0D:
                self.col = 0
            elif c == 0x08:
                self.col = min(self.col, self.cols) - 1 if self.col else 0
            elif c == 0x09:
                self.col = min((self.col + 8) & ~7, self.cols)
            elif c >= 0xC0:
                self.glyph("?")
        return self

    def lines(self):
        return ["".join(r) for r in self.grid]


def kernel_output(serial):
    """The bytes the kernel printed: the serial log from the line break before
    its first line ("\\r\\ngokernel: starting") on."""
    i = serial.rfind(FIRST_LINE)
    if i < 0:
        return None
    return serial[i - 2:] if serial[i - 2:i] == b"\r\n" else serial[i:]


# ---------------------------------------------------------------- images
def read_ppm(path):
    """(width, height, RGB bytes) of a binary PPM (P6, maxval 255)."""
    data = open(path, "rb").read()
    tokens, pos = [], 0
    while len(tokens) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        tokens.append(data[pos:end])
        pos = end
    if tokens[0] != b"P6" or tokens[3] != b"255":
        raise ValueError(f"{path}: not a P6 PPM with maxval 255")
    w, h = int(tokens[1]), int(tokens[2])
    pixels = data[pos + 1:pos + 1 + w * h * 3]
    if len(pixels) != w * h * 3:
        raise ValueError(f"{path}: {len(pixels)} bytes of pixels, want {w * h * 3}")
    return w, h, pixels


def render(lines, font, width, height):
    """RGB bytes of a width x height screen showing lines (BG elsewhere)."""
    img = bytearray(bytes(BG) * (width * height))
    fg = bytes(FG)
    for y, line in enumerate(lines):
        for x, ch in enumerate(line):
            g = font.get(ord(ch), font[ord("?")])
            for r in range(CELL_H):
                base = ((y * CELL_H + r) * width + x * CELL_W) * 3
                for i in range(CELL_W):
                    if g[r] & (0x80 >> i):
                        img[base + i * 3:base + i * 3 + 3] = fg
    return bytes(img)


def check_screen(width, height, pixels, serial, font, grid=None):
    """(problems, facts) for a screendump (width x height RGB pixels) of a
    boot whose serial log is serial (bytes).  grid: (cols, rows) the kernel
    said it uses; default the whole screen in 8x16 cells."""
    cols, rows = grid or (min(width // CELL_W, MAX_COLS), min(height // CELL_H, MAX_ROWS))
    out = kernel_output(serial)
    if out is None:
        return [f"no '{FIRST_LINE.decode()}' line in the serial log"], {}
    want = Console(cols, rows).feed(out).lines()
    expect = render(want, font, width, height)
    area_w, area_h = cols * CELL_W, rows * CELL_H
    bg = bytes(BG)
    ink = sum(1 for y in range(area_h) for x in range(area_w)
              if pixels[(y * width + x) * 3:(y * width + x) * 3 + 3] != bg)
    wrong, first = 0, None
    for y in range(rows):
        for x in range(cols):
            for r in range(CELL_H):
                a = ((y * CELL_H + r) * width + x * CELL_W) * 3
                if pixels[a:a + CELL_W * 3] != expect[a:a + CELL_W * 3]:
                    wrong += 1
                    first = first or (y, x)
                    break
    text_cells = sum(1 for l in want for ch in l if ch != " ")
    facts = dict(cols=cols, rows=rows, ink=ink, ink_fraction=ink / (area_w * area_h),
                 cells=cols * rows, cells_wrong=wrong, text_cells=text_cells)
    problems = []
    lo, hi = INK_RANGE
    if not lo <= facts["ink_fraction"] <= hi:
        problems.append(f"{ink} non-background pixels in the {area_w}x{area_h} console area "
                        f"({facts['ink_fraction']:.2%}), not the {lo:.1%}..{hi:.0%} text covers")
    if wrong:
        y, x = first
        problems.append(f"{wrong} of {cols * rows} character cells differ from the serial log "
                        f"({text_cells} cells hold text); the first at row {y} column {x}, "
                        f"want {want[y][x]!r} (line {want[y].rstrip()!r})")
    return problems, facts


def serial_at_dump(serial, mode="on"):
    """The serial log as it was when the screendump was taken: up to the end
    of the shell's first prompt (boot_and_dump sends end-of-input only after
    the dump, so the kernel printed nothing more before it), or for a panic
    to the end of its last line (the kernel halts there)."""
    if mode == "panic":
        m = PANIC_END.search(serial)
        return serial[:m.end()] if m else serial
    i = serial.find(PROMPT)
    j = serial.find(b"> ", i) if i >= 0 else -1
    return serial[:j + 2] if j >= 0 else serial


def check_files(ppm, log_path, cfg_screen="on"):
    """check_screen on files, with the grid from the kernel's "fbcon:" line;
    for an "off" boot, the verdict is inverted (the check must fail)."""
    serial = serial_at_dump(open(log_path, "rb").read(), cfg_screen)
    w, h, pixels = read_ppm(ppm)
    m = FBCON_RE.search(serial.decode(errors="replace").replace("\r", ""))
    grid = None
    if cfg_screen in ("on", "panic"):
        if not m:
            return ["no 'fbcon: WxH (CxR chars) at ...' line in the serial log"], {}
        if (int(m.group(1)), int(m.group(2))) != (w, h):
            return [f"the kernel says {m.group(1)}x{m.group(2)}, the screendump is {w}x{h}"], {}
        grid = (int(m.group(3)), int(m.group(4)))
    problems, facts = check_screen(w, h, pixels, serial, load_font(), grid)
    if cfg_screen == "off":
        if m:
            return ["fbcon=off, yet the kernel says the screen console started"], facts
        if not problems:
            return ["fbcon=off, yet the screen check passed: it cannot tell a screen "
                    "without the kernel's text"], facts
        facts["caught"] = problems[-1]
        return [], facts
    return problems, facts


def describe(facts):
    if not facts:
        return ""
    return (f"screen: {facts['cols']}x{facts['rows']} cells, {facts['ink']} ink pixels "
            f"({facts['ink_fraction']:.2%}), {facts['cells'] - facts['cells_wrong']}/{facts['cells']} "
            f"cells as predicted")


# ---------------------------------------------------------------- the boot
PROMPT = b"gokernel shell:"
PANIC_INPUT = b"cpus panic 1\n"
PANIC_END = re.compile(rb"(?m)^PANIC on cpu \d+: [^\r\n]*\r\n")


def ready_for_dump(got, mode):
    """True when the kernel has printed everything it will before the dump:
    on/off, the shell's first prompt; panic, the panic's last line."""
    if mode == "panic":
        return PANIC_END.search(got) is not None
    return PROMPT in got and got.endswith(b"> ")


def boot_and_dump(cmd, log_path, ppm_path, timeout, mode="on"):
    """Runs QEMU command cmd (without -serial) with its serial port on a
    socket copied to log_path and a QMP socket; when the shell prompt has
    arrived, takes a screendump into ppm_path and sends end-of-input
    (mode "panic": types `cpus panic 1` at the prompt instead, takes the
    screendump after the panic's last line and quits QEMU through QMP).
    Returns (exit status, timed out, QEMU's output, seconds, problem or None)."""
    base = os.path.splitext(log_path)[0]
    ser_sock, qmp_sock = base + ".serial.sock", base + ".qmp.sock"
    for path in (ser_sock, qmp_sock, ppm_path):
        if os.path.exists(path):
            os.remove(path)
    cmd = cmd + ["-chardev", f"socket,id=ser0,path={ser_sock},server=on,wait=on",
                 "-serial", "chardev:ser0", "-qmp", f"unix:{qmp_sock},server=on,wait=off"]
    t0 = time.time()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    problem, timed_out = None, False
    ser = connect(ser_sock, p, t0 + 30)
    got = bytearray()
    lock = threading.Lock()

    def reader():
        with open(log_path, "wb") as log:
            while True:
                try:
                    chunk = ser.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                log.write(chunk)
                log.flush()
                with lock:
                    got.extend(chunk)

    th = threading.Thread(target=reader, daemon=True)
    if ser:
        th.start()
    dumped = typed = False
    while ser and p.poll() is None:
        if time.time() - t0 > timeout:
            timed_out = True
            break
        with lock:
            ready = not dumped and ready_for_dump(got, mode)
            at_prompt = mode == "panic" and not typed and PROMPT in got and got.endswith(b"> ")
        if at_prompt:
            ser.sendall(PANIC_INPUT)
            typed = True
        if ready:
            problem = screendump(qmp_sock, ppm_path, quit=mode == "panic")
            dumped = True
            if mode != "panic":
                ser.sendall(b"\x04")
        time.sleep(0.1)
    if not dumped and not timed_out and problem is None:
        problem = "the kernel never waited at its shell prompt: no screendump taken"
    if ser is None:
        problem = "QEMU's serial socket never accepted a connection"
    if p.poll() is None:
        os.killpg(p.pid, 9)
    p.wait()
    if ser:
        th.join(5)
        ser.close()
    return p.returncode, timed_out, p.stdout.read().decode(errors="replace"), time.time() - t0, problem


def connect(path, proc, deadline):
    while time.time() < deadline and proc.poll() is None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            time.sleep(0.05)
    return None


def screendump(qmp_path, ppm_path, quit=False):
    """QMP screendump (PPM) into ppm_path, then quit QEMU when asked: None,
    or what went wrong."""
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(qmp_path)
        f = s.makefile("rw")
        f.readline()  # the greeting
        cmds = [{"execute": "qmp_capabilities"},
                {"execute": "screendump", "arguments": {"filename": ppm_path}}]
        for cmd in cmds + ([{"execute": "quit"}] if quit else []):
            f.write(json.dumps(cmd) + "\n")
            f.flush()
            while True:  # skip asynchronous events
                reply = json.loads(f.readline())
                if "return" in reply or "error" in reply:
                    break
            if "error" in reply:
                return f"QMP {cmd['execute']}: {reply['error'].get('desc')}"
        s.close()
    except (OSError, ValueError) as e:
        return f"QMP screendump failed: {e}"
    return None if os.path.exists(ppm_path) else f"QMP screendump wrote no {ppm_path}"


# ---------------------------------------------------------------- self-test
def selftest_cases():
    """The model and the checker on made-up screens: [(what, ok, detail)];
    each mistake must be caught."""
    font = load_font()
    cases = []

    def model(name, data, cols, rows, want):
        got = Console(cols, rows).feed(data).lines()
        cases.append((f"model: {name}", got == want, f"got {got}"))

    model("wrap at the edge, a full line and its newline take one row",
          b"abcdefgh\nijklmnopq\n", 8, 4, ["abcdefgh", "ijklmnop", "q       ", "        "])
    model("scrolling drops the top line (3 rows)", b"1\n2\n3\n4", 4, 3, ["2   ", "3   ", "4   "])
    model("jump scroll: a quarter of the rows at once",
          b"1\n2\n3\n4\n5\n6\n7\n8\n9", 2, 8, ["3 ", "4 ", "5 ", "6 ", "7 ", "8 ", "9 ", "  "])
    model("jump scroll: the next lines fill the freed rows",
          b"1\n2\n3\n4\n5\n6\n7\n8\n9\nA", 2, 8, ["3 ", "4 ", "5 ", "6 ", "7 ", "8 ", "9 ", "A "])
    model("tab to the next multiple of 8, backspace, carriage return",
          b"a\tb\r\nxyz\b\bQ\n", 12, 3, ["a       b   ", "xQz         ", "            "])
    model("escape sequences skipped, UTF-8 as one '?'",
          b"\x1b[1;31mred\x1b[0m \xc2\xb5s \x1bcok", 12, 1, ["red ?s ok   "])
    model("backspace at column 0 stays", b"\b\bab", 4, 1, ["ab  "])

    w, h = 64, 48
    serial = b"firmware noise\r\nboot: jumping\r\n\r\ngokernel: starting\r\n" + \
        b"".join(b"line %d of the log\r\n" % i for i in range(6)) + b"> "
    good = render(Console(w // 8, h // 16).feed(kernel_output(serial)).lines(), font, w, h)

    def screen(name, pixels, must_pass):
        problems, facts = check_screen(w, h, pixels, serial, font)
        ok = (not problems) == must_pass
        cases.append((f"checker: {name}", ok, "passes" if not problems else "caught: " + problems[0]))

    screen("the predicted screen passes", good, True)
    one = bytearray(good)
    one[(20 * w + 9) * 3:(20 * w + 9) * 3 + 3] = bytes(FG) if good[(20 * w + 9) * 3] == 0 else bytes(BG)
    screen("one pixel wrong", bytes(one), False)
    screen("a blank screen", bytes(BG) * (w * h), False)
    swapped = good.replace(bytes(FG), bytes(reversed(FG)))
    screen("red and blue swapped (BGR drawn as RGB)", swapped, False)
    shifted = bytes(BG) * (w * CELL_H) + good[:-(w * CELL_H * 3)]
    screen("the text one row lower", shifted, False)
    screen("a screen full of ink", bytes(FG) * (w * h), False)

    log = b"gokernel: starting\r\ngokernel shell: help\r\n> \r\nkernel: power off (ok)\r\n"
    cases.append(("checker: the log is cut at the shell's first prompt",
                  serial_at_dump(log).endswith(b"help\r\n> "), repr(serial_at_dump(log))))
    log = b"> cpus panic 1\r\npanic: x\r\nPANIC on cpu 1: x\r\nlater\r\n"
    cases.append(("checker: a panic's log is cut after its PANIC line",
                  serial_at_dump(log, "panic").endswith(b"PANIC on cpu 1: x\r\n"),
                  repr(serial_at_dump(log, "panic"))))

    import run  # make run DISPLAY=1's choice (run.py choose_display)
    for env, req, have, want, what in [
            ({"DISPLAY": ":0"}, "1", ["none", "gtk", "sdl"], "gtk", "gtk first"),
            ({"DISPLAY": ":0"}, "1", ["none", "sdl"], "sdl", "sdl without gtk"),
            ({"DISPLAY": "1", "GOK_X_DISPLAY": ":1"}, "1", ["gtk"], "gtk",
             "make's DISPLAY=1 with the X display kept aside"),
            ({"WAYLAND_DISPLAY": "wayland-0"}, "gtk", ["gtk"], "gtk", "Wayland"),
            ({}, "1", ["gtk"], "no display ($DISPLAY is not set", "no window system"),
            ({"DISPLAY": "1"}, "1", ["gtk"], "not an X display", "DISPLAY=1 is no X display"),
            ({"DISPLAY": "1", "GOK_X_DISPLAY": ""}, "1", ["gtk"], "$DISPLAY is not set",
             "make run DISPLAY=1 without X"),
            ({"DISPLAY": ":0"}, "1", ["none", "curses"], "qemu-system-gui", "QEMU without gtk/sdl"),
            ({"DISPLAY": ":0"}, "sdl", ["gtk"], "no sdl display", "sdl asked, only gtk"),
            ({"DISPLAY": ":0"}, "0", ["gtk"], "display none", "0 is headless")]:
        backend, msg = run.choose_display(req, env, have)
        ok = backend == want if want in ("gtk", "sdl") else (backend is None and want in msg)
        cases.append((f"display choice: {what}", ok, f"got {backend}: {msg}"))
    try:
        run.choose_display("vnc", {}, [])
        cases.append(("display choice: a bad value is refused", False, "accepted"))
    except ValueError as e:
        cases.append(("display choice: a bad value is refused", "want 1" in str(e), str(e)))
    return [(f"screen {what}", ok, detail) for what, ok, detail in cases]


def selftest():
    cases = selftest_cases()
    failed = 0
    for i, (what, ok, detail) in enumerate(cases, 1):
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} {i} - {what}" + ("" if ok else f": {detail}"))
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv):
    if argv[1:] == ["--selftest"]:
        return selftest()
    if len(argv) not in (3, 4) or (len(argv) == 4 and argv[3] != "--off"):
        print(__doc__, file=sys.stderr)
        return 2
    problems, facts = check_files(argv[1], argv[2], "off" if len(argv) == 4 else "on")
    print(describe(facts))
    for p in problems:
        print("problem: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
