#!/usr/bin/env python3
"""Compares two boxmine checkpoints section by section (layout: docs/TRAINING.md).

usage: bench/ckpt_diff.py A.ckpt B.ckpt

Prints "identical" when the files are equal byte for byte. Otherwise lists every section
that differs, and says which of those differences are only the wall-clock fields a mining
checkpoint records (mine.loop_reals[1]: seconds spent on the record in progress, column 24
of mine.records and mine.current: each record's seconds) or its command line
(mine.command_line, which a resumed run rewrites). Exit status: 0 identical, 1 differences
in those clock/command-line fields only, 2 any other difference (or an unreadable file).
"""
import struct
import sys

RECORD_VALUES = 26  # LOOP_RECORD_VALUES in src/mine/loop_internal.h
SECONDS_COLUMN = 24


def sections(path):
    data = open(path, "rb").read()
    if data[:4] != b"BMCK":
        raise ValueError(f"{path}: not a boxmine checkpoint")
    (count,) = struct.unpack_from("<I", data, 16)
    pos, out = 24, {}
    for _ in range(count):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2:pos + 2 + name_len].decode()
        pos += 2 + name_len
        kind, size = struct.unpack_from("<IQ", data, pos)
        pos += 12
        out[name] = (kind, data[pos:pos + size])
        pos += size
    return data, out


def f64(payload):
    return list(struct.unpack(f"<{len(payload) // 8}d", payload))


def clock_only(name, a, b):
    """1 when sections a and b differ only in wall-clock fields."""
    if name == "mine.command_line":
        return True
    if name not in ("mine.loop_reals", "mine.records", "mine.current"):
        return False
    if a[0] != b[0] or len(a[1]) != len(b[1]) or len(a[1]) % 8:
        return False
    va, vb = f64(a[1]), f64(b[1])
    if name == "mine.loop_reals":
        return va[0] == vb[0] or (va[0] != va[0] and vb[0] != vb[0])
    if name in ("mine.records", "mine.current"):
        for k, (x, y) in enumerate(zip(va, vb)):
            same = x == y or (x != x and y != y)
            if not same and k % RECORD_VALUES != SECONDS_COLUMN:
                return False
        return True
    return False


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        raw_a, sa = sections(sys.argv[1])
        raw_b, sb = sections(sys.argv[2])
    except (OSError, ValueError, struct.error) as e:
        print(f"unreadable: {e}")
        return 2
    if raw_a == raw_b:
        print("identical")
        return 0
    worst = 1
    names = list(sa) + [n for n in sb if n not in sa]
    for name in names:
        if name not in sa or name not in sb:
            print(f"  {name}: only in {'B' if name not in sa else 'A'}")
            worst = 2
        elif sa[name] != sb[name]:
            clock = clock_only(name, sa[name], sb[name])
            print(f"  {name}: differs{' (wall-clock seconds / command line only)' if clock else ''}")
            if not clock:
                worst = 2
    if list(sa) != list(sb):
        print("  section order differs")
        worst = 2
    print("same but for wall-clock seconds and the command line" if worst == 1 else "DIFFERENT")
    return worst


if __name__ == "__main__":
    sys.exit(main())
