// Block-key helpers: Strata's own BlockHasher (client/block_hasher.h) and SGLang's HiCache page
// hash chain, in C++ because engines hash every page of every prompt.
//
// SGLang (mem_cache/hicache_storage.py get_hash_str): page i's key is the lowercase hex of
//   SHA-256( bytes.fromhex(key_{i-1}) || token_0 || ... || token_{page-1} ), tokens as u32 LE,
// key_{-1} absent (or the caller's prior hash). Only full pages get keys.
#include <openssl/sha.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "client/block_hasher.h"
#include "python/src/py_common.h"

namespace strata::python {
namespace {

std::vector<uint32_t> TokensFrom(py::handle tokens, const std::string& what) {
  std::vector<uint64_t> wide = UintsFrom(tokens, what);
  std::vector<uint32_t> out;
  out.reserve(wide.size());
  for (size_t i = 0; i < wide.size(); ++i) {
    if (wide[i] > 0xffffffffull) {
      throw py::value_error(what + "[" + std::to_string(i) + "] does not fit in 32 bits");
    }
    out.push_back(static_cast<uint32_t>(wide[i]));
  }
  return out;
}

void AppendLe32(std::string* s, uint32_t t) {
  const char le[4] = {static_cast<char>(t & 0xff), static_cast<char>((t >> 8) & 0xff),
                      static_cast<char>((t >> 16) & 0xff), static_cast<char>((t >> 24) & 0xff)};
  s->append(le, 4);
}

std::vector<std::string> SglangPageHashes(const std::vector<uint32_t>& tokens, size_t page_size,
                                          const std::string& prior_hex) {
  std::vector<std::string> keys;
  std::string prev;
  if (!prior_hex.empty() && !FromHex(prior_hex, &prev)) {
    throw py::value_error("prior_hash: not a hex string");
  }
  std::string input;
  for (size_t start = 0; start + page_size <= tokens.size(); start += page_size) {
    input.assign(prev);
    for (size_t i = start; i < start + page_size; ++i) AppendLe32(&input, tokens[i]);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
    prev.assign(reinterpret_cast<const char*>(digest), sizeof(digest));
    keys.push_back(ToHex(prev));
  }
  return keys;
}

}  // namespace

void InitHashing(py::module_& m) {
  py::class_<BlockHasher>(
      m, "BlockHasher",
      "Strata's prefix-chained block keys (client/block_hasher.h): key_i = "
      "H(salt(namespace) || len(key_{i-1}) || key_{i-1} || tokens_i as u32 LE).")
      .def(py::init([](const std::string& ns, uint32_t block_tokens, const std::string& hash,
                       size_t key_bytes) {
             if (block_tokens == 0) throw py::value_error("BlockHasher: block_tokens must be > 0");
             BlockHasherOptions o;
             o.block_tokens = block_tokens;
             o.key_bytes = key_bytes;
             if (hash == "sha256") {
               o.hash = BlockHash::kSha256;
             } else if (hash == "xxh3_128") {
               o.hash = BlockHash::kXxh3_128;
             } else {
               throw py::value_error("BlockHasher: hash is 'sha256' or 'xxh3_128'");
             }
             return BlockHasher(ns, o);
           }),
           py::arg("namespace"), py::arg("block_tokens") = 256, py::arg("hash") = "sha256",
           py::arg("key_bytes") = 16)
      .def(
          "next",
          [](const BlockHasher& h, py::handle prev, py::handle tokens) {
            std::string p = prev.is_none() ? std::string() : KeyFrom(prev, "prev_key");
            std::vector<uint32_t> t = TokensFrom(tokens, "tokens");
            return py::bytes(h.Next(p, t));
          },
          py::arg("prev_key"), py::arg("tokens"),
          "key of the block after prev_key (None or b'' for the first)")
      .def(
          "keys",
          [](const BlockHasher& h, py::handle tokens) {
            std::vector<uint32_t> t = TokensFrom(tokens, "tokens");
            std::vector<std::string> keys;
            {
              py::gil_scoped_release nogil;
              keys = h.Keys(t);
            }
            py::list out(keys.size());
            for (size_t i = 0; i < keys.size(); ++i) out[i] = py::bytes(keys[i]);
            return out;
          },
          py::arg("tokens"), "keys of every full block, in order")
      .def_property_readonly("block_tokens", &BlockHasher::block_tokens);

  m.def(
      "sglang_page_hashes",
      [](py::handle tokens, size_t page_size, py::handle prior_hash) {
        if (page_size == 0) throw py::value_error("page_size must be > 0");
        std::vector<uint32_t> t = TokensFrom(tokens, "tokens");
        const std::string prior =
            prior_hash.is_none() ? std::string() : py::cast<std::string>(prior_hash);
        std::vector<std::string> keys;
        {
          py::gil_scoped_release nogil;
          keys = SglangPageHashes(t, page_size, prior);
        }
        return keys;
      },
      py::arg("tokens"), py::arg("page_size"), py::arg("prior_hash") = py::none(),
      "SGLang HiCache page keys (hex SHA-256 chain over the previous digest and u32 LE tokens) "
      "of every full page of `tokens`.");

  m.def(
      "to_hex", [](py::handle b) { return ToHex(KeyFrom(b, "bytes")); }, py::arg("data"));
}

}  // namespace strata::python
