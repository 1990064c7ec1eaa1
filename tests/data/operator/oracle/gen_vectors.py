#!/usr/bin/env python3
"""Regenerates tests/data/operator/*.json from libmodsecurity3 itself.

    g++ -O1 -std=c++17 -o /tmp/op-oracle tests/data/operator/oracle/op_oracle.cc -lmodsecurity
    python3 tests/data/operator/oracle/gen_vectors.py /tmp/op-oracle

Each file: {"operator", "param", "cases": [{"in": S, "match": bool}]}; each character of S
(U+0000..U+00FF) is one byte. "match" is whether libmodsecurity3 3.0.9's operator matched.
"""
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.dirname(HERE)


def rand_bytes(rng, alphabet, n):
    out = []
    for _ in range(n):
        size = rng.choice([0, 1, 2, 3, 4, 5, 6, 8, 12, 20])
        if alphabet is None or rng.random() < 0.2:
            out.append("".join(chr(rng.randrange(256)) for _ in range(size)))
        else:
            out.append("".join(rng.choice(alphabet) for _ in range(size)))
    return out


def utf8_cases(rng, n):
    """Valid encodings of random code points, surrogates, overlongs and truncations."""
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randrange(1, 4)):
            cp = rng.choice([rng.randrange(0x80), rng.randrange(0x80, 0x800), rng.randrange(0x800, 0x10000),
                             rng.randrange(0x10000, 0x110000), rng.randrange(0xd800, 0xe000)])
            b = chr(cp).encode("utf-8", "surrogatepass")
            k = rng.random()
            if k < 0.1:
                b = b[:-1]  # truncated
            elif k < 0.2 and cp < 0x800:
                b = bytes([0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)])  # overlong
            parts.append(b.decode("latin-1"))
        out.append("".join(parts))
    out += ["\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf7\xbf\xbf\xbf", "\xc0\x80", "\xc1\xbf",
            "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xed\x9f\xbf", "\xee\x80\x80"]
    return out


def ips(rng, n):
    out = []
    for _ in range(n):
        k = rng.random()
        if k < 0.4:
            first = rng.choice([10, 127, 192, 11, 9])
            out.append(f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}")
        elif k < 0.7:
            head = rng.choice(["2001:db8", "2001:db9", "fe80", "::ffff:10.0.0.1", "0"])
            out.append(head if "." in head else f"{head}::{rng.randrange(65536):x}")
        else:
            out.append(rng.choice(["::1", "127.0.0.1", "127.0.0.01", "127.1", "localhost", "",
                                   " 127.0.0.1", "127.0.0.1 ", "::", "0:0:0:0:0:0:0:1", "1.2.3.4.5",
                                   "10.0.0.0/8", "::1%lo", "[::1]", "0x7f.0.0.1", "256.0.0.1"]))
    return out


UTF8 = "a\x80\x8f\x9f\xa0\xbf\xc0\xc1\xc2\xc3\xdf\xe0\xe1\xed\xee\xef\xf0\xf1\xf4\xf5\xf7\xf8\xfe\xff"
SPECS = [
    ("validateUtf8Encoding", "", "utf8", UTF8),
    ("validateUrlEncoding", "", "url", "%%0a9fFgGzu+ "),
    ("validateByteRange", "1-255", "range-1-255", None),
    ("validateByteRange", "9,10,13,32-126", "range-printable", None),
    ("validateByteRange", "38,44-46,48-58,61,65-90,95,97-122", "range-crs-920272", "&,-.09:=AZ_az !~\x00\x7f"),
    ("within", "|GET| |HEAD| |POST| |OPTIONS|", "within-methods", "|GETHADPOSTIN "),
    ("eq", "0", "eq-0", "0123-+ 9a\t\x00"),
    ("eq", "-12", "eq-minus-12", "0123-+ 9a\t\x00"),
    ("ge", "5", "ge-5", "0156-+ 9a\t\x00"),
    ("gt", "2147483647", "gt-int-max", "0123456789-+ a"),
    ("lt", "-3", "lt-minus-3", "0123-+ 9a\t"),
    ("le", "0", "le-0", "01-+ 9a"),
    ("ipMatch", "127.0.0.1,::1,10.0.0.0/8,192.168.1.0/24,2001:db8::/32", "ipmatch", "ip"),
]


def main():
    oracle = sys.argv[1] if len(sys.argv) > 1 else "/tmp/op-oracle"
    rng = random.Random(20261124)
    for op, param, fname, alphabet in SPECS:
        if op in ("eq", "ge", "gt", "lt", "le"):
            inputs = rand_bytes(rng, alphabet, 400) + [
                "2147483647", "2147483648", "-2147483648", "-2147483649", "99999999999999999999",
                "-99999999999999999999", "9223372036854775807", "9223372036854775808", " 5", "+5", "5x",
                "", "\x00", "- 5", "0x10", "1e3", "\x0b12", "00005", "4.9",
                param, " " + param, param + "x", "\t" + param + "\x00" + "9"]
        elif alphabet == "ip":
            inputs = ips(rng, 400)
        elif fname == "utf8":
            inputs = rand_bytes(rng, alphabet, 300) + utf8_cases(rng, 400)
        else:
            inputs = rand_bytes(rng, alphabet, 600)
        inputs = list(dict.fromkeys(inputs))
        req = "".join(s.encode("latin-1").hex() + "\n" for s in inputs)
        arg = f"@{op} {param}".rstrip()
        res = subprocess.run([oracle, arg], input=req.encode(), capture_output=True, check=True)
        outs = res.stdout.decode().split("\n")
        cases = [{"in": s, "match": o == "1"} for s, o in zip(inputs, outs)]
        assert len(cases) == len(inputs)
        with open(os.path.join(OUT_DIR, f"{fname}.json"), "w") as f:
            json.dump({"operator": op, "param": param, "cases": cases}, f, indent=0)
            f.write("\n")


if __name__ == "__main__":
    main()
