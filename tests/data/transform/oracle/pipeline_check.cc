// Cross-check of the oracle path: runs a transformation through libmodsecurity3's real rule
// pipeline (SecLang parser → rule → logdata) instead of Transformation::instantiate.
// Usage: pipeline_check <SecLang transformation name>; reads hex inputs, prints hex outputs
// (taken from `logdata:'%{MATCHED_VAR}'` after an extra t:hexEncode, so the log stays ASCII).
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>
#include <iostream>
#include <regex>
#include <string>

using namespace modsecurity;
static std::string g_data;
static const std::regex data_re("\\[data \"([0-9a-f]*)\"\\]");
static void log_cb(void *, const void *msg) {
  std::string s((const char *)msg);
  std::smatch m;
  if (std::regex_search(s, m, data_re)) g_data = m[1];
}
static std::string unhex(const std::string &h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back((char)std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}
int main(int argc, char **argv) {
  if (argc < 2) return 2;
  ModSecurity *ms = msc_init();
  msc_set_log_cb(ms, log_cb);
  RulesSet *rules = msc_create_rules_set();
  std::string conf = std::string("SecRuleEngine On\nSecRule REQUEST_HEADERS:X-V \"@unconditionalMatch\" "
      "\"id:1,phase:1,log,pass,t:") + argv[1] + ",t:hexEncode,logdata:'%{MATCHED_VAR}'\"\n";
  const char *err = nullptr;
  if (msc_rules_add(rules, conf.c_str(), &err) < 0) { std::cerr << "rules: " << (err ? err : "?") << "\n"; return 1; }
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string v = unhex(line);
    g_data = "?";
    Transaction *t = msc_new_transaction(ms, rules, nullptr);
    msc_process_connection(t, "127.0.0.1", 40000, "127.0.0.1", 80);
    msc_process_uri(t, "/", "GET", "1.1");
    msc_add_n_request_header(t, (const unsigned char *)"X-V", 3, (const unsigned char *)v.data(), v.size());
    msc_process_request_headers(t);
    msc_process_logging(t);
    msc_transaction_cleanup(t);
    std::cout << g_data << "\n";
    std::cout.flush();
  }
  return 0;
}
