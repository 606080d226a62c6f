#!/usr/bin/env python3
"""pprof_extract.py LOG OUT.pb — the heap profile the kernel printed on serial.

The kernel (kernel/pprof.c) prints a profile.proto message in base64 lines
between -----BEGIN HEAP PROFILE----- and -----END HEAP PROFILE-----.  This
writes the LAST such profile in LOG to OUT.pb (uncompressed: go tool pprof
reads it as is).  Exit 1 with the reason when LOG has none: the kernel's own
"pprof: ..." line is quoted when there is one (e.g. "pprof: no samples").
"""
import base64
import binascii
import re
import sys

BEGIN, END = "-----BEGIN HEAP PROFILE-----", "-----END HEAP PROFILE-----"


def extract(text):
    """The last profile's bytes in text, or raise ValueError(reason)."""
    text = text.replace("\r", "")
    start = text.rfind(BEGIN)
    if start < 0:
        said = re.findall(r"^pprof: .*$", text, re.M)
        why = f" (the kernel said: {said[-1]})" if said else ""
        raise ValueError(f"no '{BEGIN}' marker in the log{why}")
    end = text.find(END, start)
    if end < 0:
        raise ValueError(f"'{BEGIN}' without '{END}': the log is cut short")
    body = "".join(text[start + len(BEGIN):end].split())
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"the profile is not valid base64: {e}")
    if not data:
        raise ValueError("the profile is empty")
    return data


def main(argv):
    if len(argv) != 3:
        print("usage: pprof_extract.py LOG OUT.pb", file=sys.stderr)
        return 2
    try:
        with open(argv[1], errors="replace") as f:
            data = extract(f.read())
    except (OSError, ValueError) as e:
        print(f"pprof_extract: {argv[1]}: {e}", file=sys.stderr)
        return 1
    with open(argv[2], "wb") as f:
        f.write(data)
    print(f"pprof_extract: {argv[2]}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
