#!/usr/bin/env python3
"""Regenerates tests/data/transform/*.json from libmodsecurity3 itself.

Usage (from the repo root, needs libmodsecurity-dev):
    g++ -O1 -std=c++17 -o /tmp/tfm-oracle tests/data/transform/oracle/tfm_oracle.cc -lmodsecurity
    python3 tests/data/transform/oracle/gen_vectors.py /tmp/tfm-oracle

For every transformation: hand-picked edge cases plus seeded random strings drawn from an
alphabet that exercises that decoder. Every expected output is what the oracle (Debian's
libmodsecurity3 3.0.9 running its own transformation code) returned; nothing is predicted here.
In the JSON, each character U+0000..U+00FF stands for one byte.
"""
import json
import os
import random
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Overridable for one-off large differential runs: SCALE=50 OUT_DIR=/tmp/tv gen_vectors.py
OUT_DIR = os.environ.get("OUT_DIR", os.path.dirname(HERE))
SCALE = int(os.environ.get("SCALE", "1"))

HEX = "0123456789abcdefABCDEF"
WS = " \t\n\r\x0b\x0c"
# SecLang name -> (name libmodsecurity's Transformation::instantiate knows, alphabet, hand cases)
T = {
    "base64Decode": (None, "QUJDRGVmZ2hpams0NTY3+/=\r\n \x00!-_", [
        "QUJD", "QUI=", "QQ==", "QUJDRA", "QUJD\r\nRA==", "QU JD", "QUJD  ", "Q===", "QQ==QQ==",
        "QUJD\x00RA==", "QUJD!", "", "=", "==", "QQ", "Q", "\n", "  ", "QUJ\rD", "YWJj\nZGVm"]),
    "base64DecodeExt": (None, "QUJDRGVmZ2hpams0NTY3+/=\r\n \x00!-_9", [
        "QUJD", "QU!JD", "QUJDRA", "QUJDR=", "QUJD9", "QUJDR==", "QUJDRA==", "Q U J D", "====",
        "", "9", "QQ", "A=B", "YWJj\x00ZGVm", "QUJD=RA"]),
    "base64Encode": (None, None, ["", "A", "AB", "ABC", "ABCD", "\x00\xff\xfe"]),
    "cmdLine": ("cmd_line", "aB/(\"'\\^ ,;\t\r\n\x0bcat-x\xc3\xa9", [
        "C^aT \"/etc/pass'wd\" ;, x (y)", "  /", "a ,( b", "a \" b", "\\", "", "A;B", "x\x0by"]),
    "compressWhitespace": (None, "ab" + WS + "\xa0\x00", ["  a  b  ", "\xa0\xa0", "a\x0b\x0cb", ""]),
    "cssDecode": (None, "\\0fF1a2Bc3 \n\t\x00xyz", [
        "j\\61vascript", "\\6a \\41", "\\ff01\\0ff3c\\00ff21", "\\1234567", "a\\\nb\\q\\",
        "ab\\0 cd", "\\", "\\\\", "\\ffff", "\\0ff5e", "\\00ff5f", "\\10ff21", "\\0010ff21", "\\0",
        "\\00", "\\000041", "\\fF21\t", "a\x00b"]),
    "escapeSeqDecode": (None, "\\xX0178aAfF9nrtvb?'\"q", [
        "\\x2fetc\\057passwd\\n", "\\777\\1a", "\\xZ\\q\\", "\\", "\\x4", "\\X41", "\\08", "\\400",
        "\\a\\b\\f\\v\\?\\'\\\"\\\\"]),
    "hexDecode": (None, HEX + "xz!\x00\xff", ["414a6", "zz", "", "4", "!!", "0x41"]),
    "hexEncode": (None, None, ["", "\x00A\xff"]),
    "htmlEntityDecode": (None, "&#;xX0123456789abcdefABCDEFltgampquotnbsp \x00", [
        "&lt;&GT&amp;&quot;&nbsp;", "&#60;&#x3c&#X3C;&#0000000000000000000000000060;",
        "&#99999999999999999999;&#x141;", "&foo;&ltx;&#;&#x;&#&", "&#x", "&#", "&", "&&lt",
        "&#xffffffffffffffff41;", "&#x7fffffffffffffff;", "&#9223372036854775807;",
        "&#9223372036854775808;", "&#-1;", "&#x-1;", "&NBSP;", "&lt\x00", "&#65\x00"]),
    "jsDecode": (None, "\\uUxX0123478fF9abnrtv'\"q", [
        "\\u0061lert\\x28\\061\\51", "\\uff1c\\777\\q\\n\\", "\\U0061\\X41", "\\u004", "\\x4",
        "\\", "\\0", "\\400", "\\3777", "\\uff5f", "\\uFF00", "\\08"]),
    "length": (None, None, ["", "a", "\xc3\xa9", "x" * 1000]),
    "lowercase": (None, None, ["AbC\xc4\xd6Z", ""]),
    "md5": (None, None, ["", "abc", "\x00", "x" * 55, "x" * 56, "x" * 64, "y" * 119, "z" * 1000]),
    "normalizePath": ("normalizePath", "/.\\ab", [
        "/a/b/../c/./d//e", "/../../etc/passwd", "a/../../b", "./a/", "a\\..\\b", "/", "//", ".",
        "..", "../", "/..", "/.", "a/.", "a/..", "/a/b/..", "a//b/", "./", "/./", "", "...", "a/./../b",
        "/a/../../b/./c/", "x/../../..", "../a/../..", "//../a"]),
    "normalizePathWin": ("normalizePathWin", "/.\\ab", [
        "c:\\a\\..\\b\\\\c", "\\..\\..\\boot.ini", "a\\.\\b\\", "\\", "..\\", "a/\\b"]),
    "parityEven7bit": (None, None, ["ac\x81", ""]),
    "parityOdd7bit": (None, None, ["ac\x81", ""]),
    "parityZero7bit": (None, None, ["\xe1A", ""]),
    "removeComments": (None, "/*-<!>#ab \x00", [
        "a/*x*/bc", "a<!--x-->bc", "ab--cd", "ab#cd", "ab/*cd", "a/*x*/", "a<!--x-->", "/**//*a*/b",
        "<!--", "-->", "*/", "a-b", "a<!-b", "/*-->*/x"]),
    "removeCommentsChar": (None, "/*-<!>#ab", ["a/*b*/c<!--d-->e--f#g", "--->", "<!---->", "/*/"]),
    "removeNulls": (None, "a\x00b", ["\x00a\x00\x00b\x00"]),
    "removeWhitespace": (None, "ab" + WS + "\xa0\xc2\xc3\x00", [" a\tb\x0bc\xc2\xa0d\xc3\xa9"]),
    "replaceComments": (None, "/*ab ", ["a/*x*/b*/c/*d", "/*", "*/", "/*/", "a/**/b"]),
    "replaceNulls": (None, "a\x00b", ["a\x00b\x00"]),
    "sha1": (None, None, ["", "abc", "\x00\xff", "x" * 55, "x" * 56, "x" * 64, "y" * 119, "z" * 1000]),
    "sqlHexDecode": (None, "0xX" + HEX + "gz \x00", [
        "a", "ab", "abc", "0x41", "0x41b", "x0x414", "0x4", "0x", "00x4142", "0X4142", "0x41\x0042",
        "select 0x414243 from", "", "0", "0x0041"]),
    "trim": (None, "ab" + WS + "\xa0\x00", [" \t a b \r\n", " \x0b ", ""]),
    "trimLeft": (None, "ab" + WS + "\xa0\x00", [" \ta "]),
    "trimRight": (None, "ab" + WS + "\xa0\x00", [" a \n"]),
    "uppercase": (None, None, ["aBc\xe4z"]),
    "urlDecode": (None, "%+" + HEX + "uzG\x00", ["a%41+%zz%4%", "%u0041", "%", "%%41", "%4", "%0"]),
    "urlDecodeUni": (None, "%+uU" + HEX + "zG\x00", [
        "%u0041%uFF01%uff3c%u1234", "%uff5f%uFF00", "%u004%uzzzz%", "%u", "+%2B", "%U0041",
        "%uff5e", "%uFF3F", "%u12", "%%u0041", "%ufF41", "%uFf00%uff60"]),
    "urlEncode": (None, None, ["a b*-\xff", "", "~._"]),
    "utf8toUnicode": (None, "a\x00\x80\xbf\xc0\xc2\xc3\xdf\xe0\xe2\xed\xef\xf0\xf4\xf5\xf7\xf8\xff\xa0\x9f", [
        "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "a\x00b", "\xc3A", "\x80\xff", "\xc0\x80",
        "\xed\xa0\x80", "\xf5\x80\x80\x80", "\xf8\x80\x80\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80",
        "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xe2", "a\xe2", "\x00", "\xf4\x8f\xbf\xbf",
        "\xf7\xbf\xbf\xbf", "\x00\xc3\xa9"]),
}


# Token alphabets: random concatenations of these form far more real escapes than single chars.
TOKENS = {
    "htmlEntityDecode": ["&", "&#", "&#x", "&#X", "&lt", "&#6", "&#x3", "&amp", "&NbSp", "lt", "gt", "amp", "quot", "nbsp", "LT", "Quot",
                         ";", "1", "6", "0", "3c", "ff", "a", " ", "\x00", "9999999999", "x"],
    "jsDecode": ["\\", "\\u", "\\x", "ff", "FF", "00", "41", "3", "7", "1", "n", "q", "u", "x", "4"],
    "cssDecode": ["\\", "ff", "FF", "0", "21", "a", "5e", " ", "\n", "\x00", "g", "1"],
    "urlDecodeUni": ["%", "%u", "%U", "ff", "FF", "00", "41", "3", "+", "g", "u", "5f", "1"],
    "escapeSeqDecode": ["\\", "\\x", "\\X", "41", "7", "3", "n", "?", "q", "g", "9"],
    "sqlHexDecode": ["0x", "0X", "0", "x", "41", "4", "g", " ", "ab"],
    "normalizePath": ["/", "./", "../", "..", ".", "a", "bc", "//"],
    "normalizePathWin": ["\\", ".\\", "..\\", "/", "..", ".", "a", "bc"],
}


def token_cases(rng, tokens, n):
    return ["".join(rng.choice(tokens) for _ in range(rng.randrange(1, 12))) for _ in range(n)]


def random_cases(rng, alphabet, n):
    cases = []
    for _ in range(n):
        size = rng.choice([1, 2, 3, 4, 5, 6, 8, 12, 20, 40, 65, 130])
        if alphabet is None or rng.random() < 0.15:
            s = "".join(chr(rng.randrange(256)) for _ in range(size))
        else:
            s = "".join(rng.choice(alphabet) for _ in range(size))
        cases.append(s)
    return cases


def main():
    oracle = sys.argv[1] if len(sys.argv) > 1 else "/tmp/tfm-oracle"
    rng = random.Random(20261124)
    for name, (msc_name, alphabet, hand) in sorted(T.items()):
        extra = token_cases(rng, TOKENS[name], 200 * SCALE) if name in TOKENS else []
        n_random = (300 if alphabet else 60) * SCALE
        inputs = list(dict.fromkeys(hand + random_cases(rng, alphabet, n_random) + extra))
        req = "".join(f"{msc_name or name}\t{s.encode('latin-1').hex()}\n" for s in inputs)
        res = subprocess.run([oracle], input=req.encode(), capture_output=True, check=True)
        outs = res.stdout.decode().split("\n")
        cases = [{"in": s, "out": bytes.fromhex(o).decode("latin-1")} for s, o in zip(inputs, outs)]
        assert len(cases) == len(inputs)
        with open(os.path.join(OUT_DIR, f"{name}.json"), "w") as f:
            json.dump({"transformation": name, "cases": cases}, f, indent=0)
            f.write("\n")
    mapped_url_decode_uni(oracle, rng)


def mapped_url_decode_uni(oracle, rng):
    """urlDecodeUni with SecUnicodeMapFile (code page 20127, ModSecurity's unicode.mapping
    section kept in unicode-20127.mapping): every mapped code point plus random escapes."""
    map_file = os.path.join(os.path.dirname(HERE), "unicode-20127.mapping")
    conf = "/tmp/tfm-oracle-umap.conf"
    with open(conf, "w") as f:
        f.write(f"SecUnicodeMapFile {map_file} 20127\n")
    codes = []
    for tok in open(map_file).read().split():
        if ":" in tok:
            codes.append(tok.split(":")[0])
    inputs = [f"%u{c}" for c in codes] + [f"a%u{c.upper()}b" for c in codes[:50]]
    inputs += ["%u3002", "%uff61", "%uFF0E", "%u002e", "%uff01", "%u0041", "%u1234", "%u00zz"]
    inputs += token_cases(rng, ["%u", "%u00", "%uff", "%u02", "e9", "bc", "41", "5e", "x", "%"], 200)
    inputs = list(dict.fromkeys(inputs))
    req = "".join(f"urlDecodeUni\t{s.encode('latin-1').hex()}\n" for s in inputs)
    res = subprocess.run([oracle, conf], input=req.encode(), capture_output=True, check=True)
    outs = res.stdout.decode().split("\n")
    cases = [{"in": s, "out": bytes.fromhex(o).decode("latin-1")} for s, o in zip(inputs, outs)]
    with open(os.path.join(OUT_DIR, "urlDecodeUni.map20127.json"), "w") as f:
        json.dump({"transformation": "urlDecodeUni",
                   "unicode_map": {"file": "unicode-20127.mapping", "code_page": 20127},
                   "cases": cases}, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
