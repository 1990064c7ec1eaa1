// Transformation oracle: applies one libmodsecurity3 transformation to a byte string.
// Reads lines "<name>\t<hex input>" on stdin, prints "<hex output>" per line.
// The transformation classes are not in the public headers, but `Transformation::instantiate`
// is exported and every transformation is an `actions::Action` whose virtual
// `evaluate(const std::string&, Transaction*)` does the work, so we call it through that base.
// Optional argv[1]: a config file loaded into the rules set (e.g. SecUnicodeMapFile).
#include <modsecurity/actions/action.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>
#include <iostream>
#include <string>

namespace modsecurity { namespace actions { namespace transformations {
class Transformation { public: static Transformation *instantiate(std::string); };
}}}

using namespace modsecurity;

static std::string unhex(const std::string &h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back((char)std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

static std::string tohex(const std::string &s) {
  static const char *d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) { out.push_back(d[c >> 4]); out.push_back(d[c & 15]); }
  return out;
}

int main(int argc, char **argv) {
  ModSecurity *ms = msc_init();
  RulesSet *rules = msc_create_rules_set();
  if (argc > 1) {
    const char *err = nullptr;
    if (msc_rules_add_file(rules, argv[1], &err) < 0) { std::cerr << "rules: " << (err ? err : "?") << "\n"; return 1; }
  }
  Transaction *t = msc_new_transaction(ms, rules, nullptr);
  std::string line;
  while (std::getline(std::cin, line)) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) { std::cout << "ERR\n"; continue; }
    std::string name = line.substr(0, tab);
    auto *tr = actions::transformations::Transformation::instantiate("t:" + name);
    auto *a = reinterpret_cast<actions::Action *>(tr);
    std::string out = a->evaluate(unhex(line.substr(tab + 1)), t);
    std::cout << tohex(out) << "\n";
    std::cout.flush();
    delete a;
  }
  msc_transaction_cleanup(t);
  return 0;
}
