// Operator oracle: does one libmodsecurity3 operator match a value?
// Usage: op_oracle '<operator and argument, e.g. @validateByteRange 1-255>' [',t:xyz,…']
// (the optional second argument is appended to the rule's actions).
// Reads hex values on stdin, one per line; prints 1 (rule matched) or 0 per line.
// The value travels as the raw request header X-V, so no decoding touches it.
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>
#include <iostream>
#include <string>

using namespace modsecurity;
static bool g_hit = false;
static void log_cb(void *, const void *msg) {
  if (std::string((const char *)msg).find("[id \"1\"]") != std::string::npos) g_hit = true;
}

static std::string unhex(const std::string &h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back((char)std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

int main(int argc, char **argv) {
  if (argc < 2) { std::cerr << "usage: op_oracle '@op arg'\n"; return 2; }
  ModSecurity *ms = msc_init();
  msc_set_log_cb(ms, log_cb);
  RulesSet *rules = msc_create_rules_set();
  std::string op = argv[1];
  std::string esc;
  for (char c : op) { if (c == '"' || c == '\\') esc.push_back('\\'); esc.push_back(c); }
  std::string extra = argc > 2 ? argv[2] : "";
  std::string conf = "SecRuleEngine On\nSecRule REQUEST_HEADERS:X-V \"" + esc + "\" \"id:1,phase:1,log,pass" + extra + "\"\n";
  const char *err = nullptr;
  if (msc_rules_add(rules, conf.c_str(), &err) < 0) { std::cerr << "rules: " << (err ? err : "?") << "\n"; return 1; }
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string v = unhex(line);
    g_hit = false;
    Transaction *t = msc_new_transaction(ms, rules, nullptr);
    msc_process_connection(t, "127.0.0.1", 40000, "127.0.0.1", 80);
    msc_process_uri(t, "/", "GET", "1.1");
    msc_add_n_request_header(t, (const unsigned char *)"X-V", 3, (const unsigned char *)v.data(), v.size());
    msc_process_request_headers(t);
    msc_process_logging(t);
    msc_transaction_cleanup(t);
    std::cout << (g_hit ? 1 : 0) << "\n";
    std::cout.flush();
  }
  return 0;
}
