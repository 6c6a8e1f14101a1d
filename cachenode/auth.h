// Token authentication and namespace grants (docs/security.md).
//
// A token file (strata-node --auth-tokens FILE) lists who may call the node:
//
//   tokens:
//     - name: acme-prefill                 # for logs and errors; unique
//       token_sha256: 9f86d08...            # SHA-256 of the token, 64 hex digits; unique
//       namespaces: ["acme/*", "shared/x"]  # exact names, or a prefix ending in '*' ("*": all)
//       admin: false                        # AdminService: Stats, Drain, Evict/Inspect anywhere
//
// Only hashes are stored: the file does not hold anything a caller could present. A presented
// token is hashed and compared with every entry's hash by CRYPTO_memcmp (constant time, and the
// scan does not stop at a match), so response timing says nothing about how close a guess was.
//
// Callers send "authorization: Bearer <token>" as gRPC metadata. No metadata, a malformed value,
// or a token no entry matches: UNAUTHENTICATED. A known token outside its namespaces, or a
// non-admin token on an admin call: PERMISSION_DENIED (both name the token's entry, never the
// token).
//
// TokenSet is immutable and thread-safe. Authenticator holds the current set and swaps it whole
// on Reload (SIGHUP): calls in flight keep the set they started with; a file that does not load
// leaves the current set in force. Thread-safe.
#ifndef STRATA_CACHENODE_AUTH_H_
#define STRATA_CACHENODE_AUTH_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace strata {

using TokenDigest = std::array<uint8_t, 32>;

// SHA-256 of the token's bytes (OpenSSL).
TokenDigest HashToken(std::string_view token);
// Lower-case hex of a digest, as token files hold it.
std::string DigestHex(const TokenDigest& digest);
// True when the digests are equal, compared in constant time.
bool DigestsEqual(const TokenDigest& a, const TokenDigest& b);

// True when `pattern` grants namespace `ns`: the same string, or `pattern` ends in '*' and `ns`
// starts with what precedes it ("acme/*" grants "acme/llama" but not "acme"; "*" grants all).
bool NamespacePatternMatches(std::string_view pattern, std::string_view ns);

struct TokenEntry {
  std::string name;
  TokenDigest digest{};
  std::vector<std::string> namespaces;
  bool admin = false;

  bool Allows(std::string_view ns) const;
};

class TokenSet {
 public:
  // Parses a token file's text. INVALID_ARGUMENT naming `source` and the entry and field
  // (e.g. "tokens[2].token_sha256: 63 characters, want 64 hex digits") for bad YAML, unknown
  // keys, missing fields, bad hex, bad patterns, duplicate names or hashes.
  static absl::StatusOr<std::shared_ptr<const TokenSet>> Parse(std::string_view yaml,
                                                               std::string_view source);
  // Reads and parses `path`; INVALID_ARGUMENT naming the path when it cannot be read.
  static absl::StatusOr<std::shared_ptr<const TokenSet>> Load(const std::string& path);

  // The entry whose digest is SHA-256(token), or null. Constant time in the token's bytes.
  const TokenEntry* Find(std::string_view token) const;
  // The entry with this digest, or null (a session resolving its token after a reload).
  const TokenEntry* FindDigest(const TokenDigest& digest) const;
  const std::vector<TokenEntry>& entries() const { return entries_; }

 private:
  std::vector<TokenEntry> entries_;
};

// What one call may do: everything when auth is off, else the grants of its token's entry. The
// entry stays valid for the call's lifetime (it holds the set it came from).
class Access {
 public:
  static Access Unrestricted() { return Access(nullptr, nullptr); }
  Access(std::shared_ptr<const TokenSet> set, const TokenEntry* entry)
      : set_(std::move(set)), entry_(entry) {}

  // OK, or PERMISSION_DENIED naming the entry and `ns` (in `field`).
  absl::Status CheckNamespace(std::string_view ns, std::string_view field = "namespace") const;
  // OK, or PERMISSION_DENIED naming the entry and `call`.
  absl::Status CheckAdmin(std::string_view call) const;
  // OK when admin or the namespace is granted (Evict and Inspect on one's own namespaces).
  absl::Status CheckAdminOrNamespace(std::string_view call, std::string_view ns) const;
  // Null when auth is off.
  const TokenEntry* entry() const { return entry_; }

 private:
  std::shared_ptr<const TokenSet> set_;
  const TokenEntry* entry_;
};

class Authenticator {
 public:
  // Loads `path` (TokenSet::Load's errors, prefixed with --auth-tokens).
  static absl::StatusOr<std::unique_ptr<Authenticator>> Open(const std::string& path);
  // Reads the file again and puts it in force; on error the current set stays and the error
  // says why. Returns the number of tokens now in force.
  absl::StatusOr<size_t> Reload();

  // The caller's access from the value of its "authorization" metadata (nullopt: none sent).
  // UNAUTHENTICATED when missing, not "Bearer <token>", or unknown.
  absl::StatusOr<Access> Authenticate(std::optional<std::string_view> authorization) const;
  // The entry a data-plane session was opened with, as the current set has it: UNAUTHENTICATED
  // when the token was revoked since.
  absl::StatusOr<Access> Resolve(const TokenDigest& digest) const;
  std::shared_ptr<const TokenSet> current() const;
  const std::string& path() const { return path_; }

 private:
  Authenticator(std::string path, std::shared_ptr<const TokenSet> set)
      : path_(std::move(path)), set_(std::move(set)) {}

  const std::string path_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenSet> set_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata

#endif  // STRATA_CACHENODE_AUTH_H_
