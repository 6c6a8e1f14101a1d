// The operator files the node re-reads on SIGHUP (--auth-tokens, --quotas) share one shape: a
// YAML mapping whose only key names a list of entries, and entries that name namespaces by
// pattern. These are the checks both files make, so both report alike.
#ifndef STRATA_CACHENODE_YAML_LIST_FILE_H_
#define STRATA_CACHENODE_YAML_LIST_FILE_H_

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "common/validation.h"

namespace strata {

// The whole file at `path`; INVALID_ARGUMENT naming the path when it cannot be read.
inline absl::StatusOr<std::string> ReadListFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot be read: ", std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The list under `key` of a document that must be a mapping holding that key and nothing else.
// Errors name `source` (the file). May throw YAML::Exception, as yaml-cpp does: call inside the
// parser's try.
inline absl::StatusOr<YAML::Node> ListOfDocument(std::string_view yaml, std::string_view source,
                                                 std::string_view key) {
  const YAML::Node root = YAML::Load(std::string(yaml));
  if (!root.IsMap() || !root[std::string(key)]) {
    return absl::InvalidArgumentError(absl::StrCat(
        AsAbsl(source), ": expected a mapping with a '", AsAbsl(key), "' list"));
  }
  for (const auto& kv : root) {
    if (kv.first.as<std::string>() != key) {
      return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source), ": ",
                                                     kv.first.as<std::string>(),
                                                     ": unknown key (want ", AsAbsl(key), ")"));
    }
  }
  YAML::Node list = root[std::string(key)];
  if (!list.IsSequence()) {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source), ": ", AsAbsl(key), ": expected a list of entries"));
  }
  return list;
}

// A namespace pattern ("acme/prod", "acme/*", "*"): a '*' may only end it, and what comes before
// it must be a namespace or the start of one. The message names the pattern, not where it stood.
inline absl::Status ValidateNamespacePattern(std::string_view p) {
  const size_t star = p.find('*');
  if (star != std::string_view::npos && star != p.size() - 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", AsAbsl(p), "': '*' may only end a pattern"));
  }
  if (star == 0) return absl::OkStatus();  // "*": every namespace
  return ValidateNamespace(p.substr(0, star), "pattern");
}

}  // namespace strata

#endif  // STRATA_CACHENODE_YAML_LIST_FILE_H_
