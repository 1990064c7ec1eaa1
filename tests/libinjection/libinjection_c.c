/* Reference side of the libinjection differential check.
 * Reads one hex-encoded payload per line on stdin and prints, per line,
 * "<sqli 0|1> <fingerprint or -> <xss 0|1>", using the C libinjection that Debian's
 * libmodsecurity.so.3 exports (the exact code @detectSQLi/@detectXSS run). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int libinjection_sqli(const char *s, size_t slen, char fingerprint[]);
int libinjection_xss(const char *s, size_t slen);

static int unhex(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int main(void) {
    size_t cap = 1 << 16;
    char *line = malloc(cap);
    char *buf = malloc(cap);
    if (!line || !buf) return 1;
    for (;;) {
        size_t n = 0;
        int c;
        while ((c = getchar()) != EOF && c != '\n') {
            if (n + 2 >= cap) {
                cap *= 2;
                line = realloc(line, cap);
                buf = realloc(buf, cap);
                if (!line || !buf) return 1;
            }
            line[n++] = (char)c;
        }
        if (c == EOF && n == 0) break;
        size_t len = 0;
        for (size_t i = 0; i + 1 < n; i += 2) {
            int h = unhex(line[i]), l = unhex(line[i + 1]);
            if (h < 0 || l < 0) break;
            buf[len++] = (char)(h * 16 + l);
        }
        /* NUL-terminated like the std::string data libmodsecurity3 passes: the C code reads
         * one byte past the end in places. */
        buf[len] = 0;
        char fp[8];
        memset(fp, 0, sizeof fp);
        int sqli = libinjection_sqli(buf, len, fp);
        int xss = libinjection_xss(buf, len);
        printf("%d %s %d\n", sqli ? 1 : 0, (sqli && fp[0]) ? fp : "-", xss ? 1 : 0);
        fflush(stdout);
        if (c == EOF) break;
    }
    return 0;
}
