#include "cachenode/auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "cachenode/options.h"

namespace strata {
namespace {

std::string Hex(std::string_view token) { return DigestHex(HashToken(token)); }

std::string TwoTenants() {
  return absl::StrCat("tokens:\n",
                      "  - name: acme\n"
                      "    token_sha256: ",
                      Hex("acme-secret"),
                      "\n"
                      "    namespaces: [\"acme/*\", \"shared/docs\"]\n"
                      "  - name: globex\n"
                      "    token_sha256: ",
                      Hex("globex-secret"),
                      "\n"
                      "    namespaces: [\"globex/*\"]\n"
                      "    admin: false\n"
                      "  - name: ops\n"
                      "    token_sha256: ",
                      Hex("ops-secret"), "\n    admin: true\n");
}

TEST(HashToken, IsSha256) {
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  EXPECT_EQ(Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(DigestsEqual(HashToken("abc"), HashToken("abc")));
  TokenDigest other = HashToken("abc");
  other[31] ^= 1;  // differs in the last byte only
  EXPECT_FALSE(DigestsEqual(HashToken("abc"), other));
}

TEST(NamespacePattern, ExactAndTrailingStarPrefix) {
  EXPECT_TRUE(NamespacePatternMatches("acme/llama", "acme/llama"));
  EXPECT_FALSE(NamespacePatternMatches("acme/llama", "acme/llama2"));
  EXPECT_FALSE(NamespacePatternMatches("acme/llama", "acme"));
  EXPECT_TRUE(NamespacePatternMatches("acme/*", "acme/llama"));
  EXPECT_TRUE(NamespacePatternMatches("acme/*", "acme/"));
  EXPECT_FALSE(NamespacePatternMatches("acme/*", "acme"));        // the '/' is part of the prefix
  EXPECT_FALSE(NamespacePatternMatches("acme/*", "acmecorp/x"));  // so no sibling leaks in
  EXPECT_TRUE(NamespacePatternMatches("acme*", "acmecorp/x"));    // unless the pattern says so
  EXPECT_TRUE(NamespacePatternMatches("*", "anything/at/all"));
  EXPECT_FALSE(NamespacePatternMatches("", "acme"));
}

TEST(TokenSet, ParsesEntriesAndFindsByToken) {
  auto set = TokenSet::Parse(TwoTenants(), "tokens.yaml");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ((*set)->entries().size(), 3u);
  const TokenEntry* acme = (*set)->Find("acme-secret");
  ASSERT_NE(acme, nullptr);
  EXPECT_EQ(acme->name, "acme");
  EXPECT_FALSE(acme->admin);
  EXPECT_TRUE(acme->Allows("acme/llama3/tp0"));
  EXPECT_TRUE(acme->Allows("shared/docs"));
  EXPECT_FALSE(acme->Allows("shared/docs2"));
  EXPECT_FALSE(acme->Allows("globex/llama3"));
  const TokenEntry* ops = (*set)->Find("ops-secret");
  ASSERT_NE(ops, nullptr);
  EXPECT_TRUE(ops->admin);
  EXPECT_FALSE(ops->Allows("acme/x"));  // admin grants admin calls, not namespaces
  EXPECT_EQ((*set)->Find("acme-secret "), nullptr);
  EXPECT_EQ((*set)->Find(""), nullptr);
  EXPECT_EQ((*set)->Find(Hex("acme-secret")), nullptr);  // the hash is not the token
  EXPECT_EQ((*set)->FindDigest(HashToken("globex-secret")), &(*set)->entries()[1]);
}

TEST(TokenSet, EmptyListLocksEveryoneOut) {
  auto set = TokenSet::Parse("tokens: []\n", "t.yaml");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->Find("x"), nullptr);
}

// Every malformed file is refused with a message naming the file, the entry and the field.
TEST(TokenSet, BadFilesNameTheProblem) {
  const std::string h = Hex("t");
  struct Case {
    std::string yaml;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"tokens: [", "t.yaml: yaml-cpp"},
      {"- a\n- b\n", "expected a mapping with a 'tokens' list"},
      {"tokens: {a: 1}\n", "tokens: expected a list"},
      {"tokens: []\nextra: 1\n", "extra: unknown key"},
      {"tokens: [7]\n", "tokens[0]: expected {name"},
      {"tokens: [{token_sha256: " + h + ", namespaces: [a]}]\n", "tokens[0].name: missing"},
      {"tokens: [{name: a, namespaces: [a]}]\n", "tokens[0].token_sha256: missing"},
      {"tokens: [{name: a, token_sha256: abc, namespaces: [a]}]\n",
       "tokens[0].token_sha256: 3 characters, want 64 hex digits"},
      {"tokens: [{name: a, token_sha256: " + std::string(64, 'g') + ", namespaces: [a]}]\n",
       "tokens[0].token_sha256: not a hex string"},
      {"tokens: [{name: a, token_sha256: " + h + "}]\n",
       "tokens[0].namespaces: missing (only an admin token may have none)"},
      {"tokens: [{name: a, token_sha256: " + h + ", namespaces: a}]\n",
       "tokens[0].namespaces: expected a list"},
      {"tokens: [{name: a, token_sha256: " + h + ", namespaces: [\"a/*/b\"]}]\n",
       "tokens[0].namespaces[0]: 'a/*/b': '*' may only end a pattern"},
      {"tokens: [{name: a, token_sha256: " + h + ", namespaces: [\"a b\"]}]\n",
       "tokens[0].namespaces[0]: pattern"},
      {"tokens: [{name: a, token_sha256: " + h + ", namespaces: [a], admin: yes}]\n",
       "tokens[0].admin: expected true or false"},
      {"tokens: [{name: a, token_sha256: " + h + ", namespaces: [a], role: x}]\n",
       "tokens[0].role: unknown key"},
      {"tokens: [{name: a, token_sha256: " + h +
           ", namespaces: [a]}, {name: a, token_sha256: " + Hex("u") + ", namespaces: [a]}]\n",
       "tokens[1].name: 'a' is used by an earlier entry"},
      {"tokens: [{name: a, token_sha256: " + h +
           ", namespaces: [a]}, {name: b, token_sha256: " + h + ", namespaces: [a]}]\n",
       "tokens[1].token_sha256: the same token as an earlier entry"},
  };
  for (const Case& c : cases) {
    auto set = TokenSet::Parse(c.yaml, "t.yaml");
    ASSERT_FALSE(set.ok()) << c.yaml;
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_NE(set.status().message().find(c.expect), absl::string_view::npos)
        << c.yaml << " -> " << set.status().message();
    EXPECT_EQ(set.status().message().find("t.yaml"), 0u) << set.status().message();
  }
}

TEST(Access, NamespaceAndAdminChecks) {
  auto set = TokenSet::Parse(TwoTenants(), "t.yaml");
  ASSERT_TRUE(set.ok());
  const Access acme(*set, (*set)->Find("acme-secret"));
  const Access ops(*set, (*set)->Find("ops-secret"));
  EXPECT_TRUE(acme.CheckNamespace("acme/x").ok());
  const absl::Status denied = acme.CheckNamespace("globex/x");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.message(), "token 'acme' may not use namespace 'globex/x'");
  EXPECT_EQ(acme.CheckAdmin("Stats").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(ops.CheckAdmin("Stats").ok());
  EXPECT_TRUE(acme.CheckAdminOrNamespace("Evict", "acme/x").ok());
  EXPECT_EQ(acme.CheckAdminOrNamespace("Evict", "globex/x").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(ops.CheckAdminOrNamespace("Evict", "globex/x").ok());
  EXPECT_EQ(ops.CheckNamespace("globex/x").code(), absl::StatusCode::kPermissionDenied);
  const Access open = Access::Unrestricted();
  EXPECT_TRUE(open.CheckNamespace("anything").ok());
  EXPECT_TRUE(open.CheckAdmin("Drain").ok());
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/strata-tokens-" + std::to_string(::getpid()) + ".yaml";
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void Write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }
  std::string path_;
};

TEST_F(AuthenticatorTest, BearerHeaderRules) {
  Write(TwoTenants());
  auto auth = Authenticator::Open(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ((*auth)->Authenticate(std::nullopt).status().code(),
            absl::StatusCode::kUnauthenticated);
  for (std::string_view bad : {"", "acme-secret", "Bearer", "Bearer ", "Basic acme-secret",
                               "Bearer acme-secret2", "Bearer  acme-secret"}) {
    EXPECT_EQ((*auth)->Authenticate(bad).status().code(), absl::StatusCode::kUnauthenticated)
        << bad;
  }
  for (std::string_view good : {"Bearer acme-secret", "bearer acme-secret", "BEARER acme-secret"}) {
    auto access = (*auth)->Authenticate(good);
    ASSERT_TRUE(access.ok()) << good;
    EXPECT_EQ(access->entry()->name, "acme");
  }
}

TEST_F(AuthenticatorTest, ReloadSwapsTheSetAndKeepsItOnABadFile) {
  Write(TwoTenants());
  auto auth = Authenticator::Open(path_);
  ASSERT_TRUE(auth.ok()) << auth.status();
  auto held = (*auth)->Authenticate("Bearer acme-secret");  // a call in flight
  ASSERT_TRUE(held.ok());

  // Revoke acme, add initech.
  Write(absl::StrCat("tokens:\n  - {name: initech, token_sha256: ", Hex("initech-secret"),
                     ", namespaces: [\"initech/*\"]}\n"));
  auto n = (*auth)->Reload();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ((*auth)->Authenticate("Bearer acme-secret").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE((*auth)->Authenticate("Bearer initech-secret").ok());
  EXPECT_EQ((*auth)->Resolve(HashToken("acme-secret")).status().code(),
            absl::StatusCode::kUnauthenticated);
  // The call that started before the reload still holds its (old) grants, valid memory.
  EXPECT_TRUE(held->CheckNamespace("acme/x").ok());

  // A broken file: the reload fails naming it, and initech stays in force.
  Write("tokens: [{name: x}\n");
  auto bad = (*auth)->Reload();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(path_), absl::string_view::npos) << bad.status();
  EXPECT_TRUE((*auth)->Authenticate("Bearer initech-secret").ok());
  std::remove(path_.c_str());
  EXPECT_FALSE((*auth)->Reload().ok());
  EXPECT_TRUE((*auth)->Authenticate("Bearer initech-secret").ok());
}

TEST_F(AuthenticatorTest, OpenRefusesABadFileNamingTheFlag) {
  auto missing = Authenticator::Open(path_ + ".absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("--auth-tokens: "), absl::string_view::npos);
  Write("tokens: [{name: a, token_sha256: 12, namespaces: [a]}]\n");
  auto bad = Authenticator::Open(path_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tokens[0].token_sha256"), absl::string_view::npos);
}

// Non-loopback listen addresses need TLS and tokens, or --insecure; decided by Validate, before
// anything binds.
TEST(NodeOptionsSecurity, NonLoopbackListenNeedsTlsAndTokensOrInsecure) {
  NodeOptions o;
  o.listen = "0.0.0.0:7100";
  absl::Status st = o.Validate();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("without TLS and tokens"), absl::string_view::npos) << st;
  EXPECT_NE(st.message().find("--insecure"), absl::string_view::npos) << st;
  o.tls_cert = "c.pem";
  o.tls_key = "k.pem";
  EXPECT_NE(o.Validate().message().find("without tokens"), absl::string_view::npos);
  o.auth_tokens = "t.yaml";
  EXPECT_TRUE(o.Validate().ok()) << o.Validate();
  o.tls_cert = o.tls_key = "";
  EXPECT_NE(o.Validate().message().find("without TLS ("), absl::string_view::npos);
  o.insecure = true;
  EXPECT_TRUE(o.Validate().ok());
  for (const char* loopback : {"127.0.0.1:0", "localhost:7100", "[::1]:7100", "127.1.2.3:9"}) {
    NodeOptions l;
    l.listen = loopback;
    EXPECT_TRUE(l.Validate().ok()) << loopback << ": " << l.Validate();
  }
  NodeOptions v6;
  v6.listen = "[::]:7100";
  EXPECT_EQ(v6.Validate().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata
