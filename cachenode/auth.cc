#include "cachenode/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "cachenode/yaml_list_file.h"
#include "common/validation.h"

namespace strata {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads one tokens[] entry. Errors name `at` (e.g. "tokens[2]") and the field.
class EntryReader {
 public:
  EntryReader(std::string_view source, std::string at) : source_(source), at_(std::move(at)) {}

  absl::StatusOr<TokenEntry> Read(const YAML::Node& node) const {
    if (!node.IsMap()) return Error("", "expected {name, token_sha256, namespaces, admin}");
    TokenEntry e;
    bool has_name = false, has_digest = false, has_namespaces = false;
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "name") {
        if (!v.IsScalar() || v.as<std::string>().empty()) {
          return Error(".name", "expected a non-empty string");
        }
        e.name = v.as<std::string>();
        has_name = true;
      } else if (key == "token_sha256") {
        STRATA_RETURN_IF_ERROR(Digest(v, &e.digest));
        has_digest = true;
      } else if (key == "namespaces") {
        STRATA_RETURN_IF_ERROR(Namespaces(v, &e.namespaces));
        has_namespaces = true;
      } else if (key == "admin") {
        if (!v.IsScalar()) return Error(".admin", "expected true or false");
        const std::string s = v.as<std::string>();
        if (s != "true" && s != "false") return Error(".admin", "expected true or false");
        e.admin = s == "true";
      } else {
        return Error("." + key, "unknown key (want name, token_sha256, namespaces, admin)");
      }
    }
    if (!has_name) return Error(".name", "missing");
    if (!has_digest) return Error(".token_sha256", "missing");
    if (!has_namespaces && !e.admin) {
      return Error(".namespaces", "missing (only an admin token may have none)");
    }
    return e;
  }

  absl::Status Error(std::string_view field, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(AsAbsl(source_), ": ", at_, AsAbsl(field), ": ", AsAbsl(what)));
  }

 private:
  absl::Status Digest(const YAML::Node& v, TokenDigest* out) const {
    if (!v.IsScalar()) return Error(".token_sha256", "expected 64 hex digits");
    const std::string hex = v.as<std::string>();
    if (hex.size() != 64) {
      return Error(".token_sha256",
                   absl::StrCat(hex.size(),
                                " characters, want 64 hex digits (the SHA-256 of the "
                                "token, e.g. from sha256sum)"));
    }
    for (size_t i = 0; i < 32; ++i) {
      const int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
      if (hi < 0 || lo < 0) return Error(".token_sha256", "not a hex string");
      (*out)[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    return absl::OkStatus();
  }

  absl::Status Namespaces(const YAML::Node& v, std::vector<std::string>* out) const {
    if (!v.IsSequence()) return Error(".namespaces", "expected a list of namespace patterns");
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string field = absl::StrCat(".namespaces[", i, "]");
      if (!v[i].IsScalar()) return Error(field, "expected a string");
      const std::string p = v[i].as<std::string>();
      if (absl::Status st = ValidateNamespacePattern(p); !st.ok()) {
        return Error(field, AsStd(st.message()));
      }
      out->push_back(p);
    }
    return absl::OkStatus();
  }

  const std::string_view source_;
  const std::string at_;
};

}  // namespace

TokenDigest HashToken(std::string_view token) {
  TokenDigest d{};
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), d.data());
  return d;
}

std::string DigestHex(const TokenDigest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(64);
  for (uint8_t b : digest) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

bool DigestsEqual(const TokenDigest& a, const TokenDigest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool NamespacePatternMatches(std::string_view pattern, std::string_view ns) {
  if (!pattern.empty() && pattern.back() == '*') {
    const std::string_view prefix = pattern.substr(0, pattern.size() - 1);
    return ns.size() >= prefix.size() && ns.substr(0, prefix.size()) == prefix;
  }
  return pattern == ns;
}

bool TokenEntry::Allows(std::string_view ns) const {
  for (const std::string& p : namespaces) {
    if (NamespacePatternMatches(p, ns)) return true;
  }
  return false;
}

absl::StatusOr<std::shared_ptr<const TokenSet>> TokenSet::Parse(std::string_view yaml,
                                                                std::string_view source) {
  auto set = std::make_shared<TokenSet>();
  try {  // yaml-cpp reports by exception; it stops here
    STRATA_ASSIGN_OR_RETURN(const YAML::Node tokens, ListOfDocument(yaml, source, "tokens"));
    absl::flat_hash_set<std::string> names, digests;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const EntryReader reader(source, absl::StrCat("tokens[", i, "]"));
      STRATA_ASSIGN_OR_RETURN(TokenEntry e, reader.Read(tokens[i]));
      if (!names.insert(e.name).second) {
        return reader.Error(".name", absl::StrCat("'", e.name, "' is used by an earlier entry"));
      }
      if (!digests.insert(DigestHex(e.digest)).second) {
        return reader.Error(".token_sha256", "the same token as an earlier entry");
      }
      set->entries_.push_back(std::move(e));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(AsAbsl(source), ": ", e.what()));
  }
  return std::shared_ptr<const TokenSet>(std::move(set));
}

absl::StatusOr<std::shared_ptr<const TokenSet>> TokenSet::Load(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(const std::string yaml, ReadListFile(path));
  return Parse(yaml, path);
}

const TokenEntry* TokenSet::Find(std::string_view token) const {
  return FindDigest(HashToken(token));
}

const TokenEntry* TokenSet::FindDigest(const TokenDigest& digest) const {
  // Every entry is compared, whatever matched before: the time taken does not depend on which
  // entry (if any) matches, nor on how many leading bytes did.
  const TokenEntry* found = nullptr;
  for (const TokenEntry& e : entries_) {
    if (DigestsEqual(e.digest, digest)) found = &e;
  }
  return found;
}

absl::Status Access::CheckNamespace(std::string_view ns, std::string_view field) const {
  if (entry_ == nullptr || entry_->Allows(ns)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat("token '", entry_->name, "' may not use ",
                                                  AsAbsl(field), " '", AsAbsl(ns), "'"));
}

absl::Status Access::CheckAdmin(std::string_view call) const {
  if (entry_ == nullptr || entry_->admin) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(AsAbsl(call), ": token '", entry_->name, "' is not an admin token"));
}

absl::Status Access::CheckAdminOrNamespace(std::string_view call, std::string_view ns) const {
  if (entry_ == nullptr || entry_->admin || entry_->Allows(ns)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(AsAbsl(call), ": token '", entry_->name,
                                                  "' is not an admin token and may not use "
                                                  "namespace '",
                                                  AsAbsl(ns), "'"));
}

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Open(const std::string& path) {
  absl::StatusOr<std::shared_ptr<const TokenSet>> set = TokenSet::Load(path);
  if (!set.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--auth-tokens: ", set.status().message()));
  }
  return std::unique_ptr<Authenticator>(new Authenticator(path, *std::move(set)));
}

absl::StatusOr<size_t> Authenticator::Reload() {
  STRATA_ASSIGN_OR_RETURN(std::shared_ptr<const TokenSet> set, TokenSet::Load(path_));
  const size_t n = set->entries().size();
  absl::MutexLock lock(&mu_);
  set_ = std::move(set);
  return n;
}

std::shared_ptr<const TokenSet> Authenticator::current() const {
  absl::MutexLock lock(&mu_);
  return set_;
}

absl::StatusOr<Access> Authenticator::Authenticate(
    std::optional<std::string_view> authorization) const {
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        "this node requires a token: send 'authorization: Bearer <token>' (stratactl --token or "
        "STRATA_TOKEN; ClientOptions::token)");
  }
  std::string_view v = *authorization;
  constexpr std::string_view kBearer = "bearer ";
  bool bearer = v.size() > kBearer.size();
  for (size_t i = 0; bearer && i < kBearer.size(); ++i) {
    bearer = std::tolower(static_cast<unsigned char>(v[i])) == kBearer[i];
  }
  if (!bearer) {
    return absl::UnauthenticatedError("authorization: expected 'Bearer <token>'");
  }
  v.remove_prefix(kBearer.size());
  std::shared_ptr<const TokenSet> set = current();
  const TokenEntry* entry = set->Find(v);
  if (entry == nullptr) return absl::UnauthenticatedError("unknown token");
  return Access(std::move(set), entry);
}

absl::StatusOr<Access> Authenticator::Resolve(const TokenDigest& digest) const {
  std::shared_ptr<const TokenSet> set = current();
  const TokenEntry* entry = set->FindDigest(digest);
  if (entry == nullptr) {
    return absl::UnauthenticatedError(
        "the token this data-plane session was opened with is no longer valid: Hello again "
        "with a valid token");
  }
  return Access(std::move(set), entry);
}

}  // namespace strata
