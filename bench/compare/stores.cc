#include "bench/compare/stores.h"

#include <hiredis/hiredis.h>
#include <libmemcached/memcached.h>

#include <cstring>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"

namespace strata::bench {
namespace {

bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  *host = address.substr(0, colon);
  return absl::SimpleAtoi(address.substr(colon + 1), port) && *port > 0;
}

// Keys as the key-value stores see them: the namespace, a colon, the bench's key.
std::string FlatKey(const std::string& key) { return absl::StrCat(kCompareNamespace, ":", key); }

// --- redis (hiredis) ---------------------------------------------------------------------------

struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

struct RedisContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};

class RedisSession final : public StoreSession {
 public:
  RedisSession(redisContext* ctx, char* buffer, size_t capacity)
      : ctx_(ctx), buf_(buffer), capacity_(capacity) {}
  char* buffer() const override { return buf_; }
  size_t capacity() const override { return capacity_; }

  absl::Status Put(absl::Span<const std::string> keys, size_t block_bytes, bool) override {
    Args(keys.size() == 1 ? "SET" : "MSET");
    for (size_t i = 0; i < keys.size(); ++i) {
      AddArg(FlatKey(keys[i]));
      AddArg(std::string_view(buf_ + i * block_bytes, block_bytes));
    }
    auto reply = Command();
    if (!reply.ok()) return reply.status();
    if ((*reply)->type != REDIS_REPLY_STATUS) return Unexpected(**reply);
    return absl::OkStatus();
  }

  absl::Status Get(absl::Span<const std::string> keys, size_t block_bytes) override {
    Args(keys.size() == 1 ? "GET" : "MGET");
    for (const std::string& k : keys) AddArg(FlatKey(k));
    auto reply = Command();
    if (!reply.ok()) return reply.status();
    redisReply* r = reply->get();
    if (keys.size() == 1) return CopyValue(*r, 0, block_bytes);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != keys.size()) return Unexpected(*r);
    for (size_t i = 0; i < keys.size(); ++i) {
      absl::Status st = CopyValue(*r->element[i], i, block_bytes);
      if (!st.ok()) return st;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> PrefixFetch(absl::Span<const std::string> keys,
                                     size_t block_bytes) override {
    // EXISTS of every key, pipelined: all commands written, then all replies read.
    for (const std::string& k : keys) {
      const std::string flat = FlatKey(k);
      const char* argv[2] = {"EXISTS", flat.data()};
      const size_t lens[2] = {6, flat.size()};
      if (redisAppendCommandArgv(ctx_.get(), 2, argv, lens) != REDIS_OK) return Failed();
    }
    size_t matched = 0;
    bool run = true;
    for (size_t i = 0; i < keys.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx_.get(), &raw) != REDIS_OK) return Failed();
      RedisReplyPtr reply(static_cast<redisReply*>(raw));
      if (reply->type != REDIS_REPLY_INTEGER) return Unexpected(*reply);
      if (run && reply->integer == 1) {
        ++matched;
      } else {
        run = false;
      }
    }
    if (matched == 0) return 0;
    absl::Status st = Get(keys.subspan(0, matched), block_bytes);
    if (!st.ok()) return st;
    return matched;
  }

 private:
  void Args(std::string_view command) {
    owned_.clear();
    argv_.clear();
    lens_.clear();
    argv_.push_back(command.data());
    lens_.push_back(command.size());
  }
  void AddArg(std::string key) {
    owned_.push_back(std::make_unique<std::string>(std::move(key)));
    AddArg(std::string_view(*owned_.back()));
  }
  void AddArg(std::string_view bytes) {
    argv_.push_back(bytes.data());
    lens_.push_back(bytes.size());
  }
  absl::StatusOr<RedisReplyPtr> Command() {
    void* raw =
        redisCommandArgv(ctx_.get(), static_cast<int>(argv_.size()), argv_.data(), lens_.data());
    if (raw == nullptr) return Failed();
    RedisReplyPtr reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ERROR) {
      return absl::InternalError(absl::StrCat("redis: ", std::string(reply->str, reply->len)));
    }
    return reply;
  }
  absl::Status CopyValue(const redisReply& r, size_t i, size_t block_bytes) {
    if (r.type == REDIS_REPLY_NIL) return absl::NotFoundError("redis: a key is missing");
    if (r.type != REDIS_REPLY_STRING) return Unexpected(r);
    if (static_cast<size_t>(r.len) != block_bytes) {
      return absl::DataLossError(absl::StrCat("redis: a value of ", r.len, " bytes"));
    }
    std::memcpy(buf_ + i * block_bytes, r.str, block_bytes);
    return absl::OkStatus();
  }
  absl::Status Failed() const {
    return absl::UnavailableError(absl::StrCat("redis: ", ctx_->errstr));
  }
  static absl::Status Unexpected(const redisReply& r) {
    return absl::InternalError(absl::StrCat("redis: unexpected reply of type ", r.type));
  }

  std::unique_ptr<redisContext, RedisContextDeleter> ctx_;
  char* const buf_;
  const size_t capacity_;
  std::vector<std::unique_ptr<std::string>> owned_;  // keys; stable while argv_ points at them
  std::vector<const char*> argv_;
  std::vector<size_t> lens_;
};

absl::StatusOr<std::unique_ptr<StoreSession>> ConnectRedis(const std::string& address, char* buffer,
                                                           size_t capacity) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(address, &host, &port)) {
    return absl::InvalidArgumentError(absl::StrCat("redis address '", address, "'"));
  }
  redisContext* ctx = redisConnect(host.c_str(), port);
  if (ctx == nullptr || ctx->err != 0) {
    const std::string why = ctx != nullptr ? ctx->errstr : "out of memory";
    if (ctx != nullptr) redisFree(ctx);
    return absl::UnavailableError(absl::StrCat("redis ", address, ": ", why));
  }
  return std::make_unique<RedisSession>(ctx, buffer, capacity);
}

// --- memcached (libmemcached) ------------------------------------------------------------------

class MemcachedSession final : public StoreSession {
 public:
  MemcachedSession(memcached_st* mc, char* buffer, size_t capacity)
      : mc_(mc), buf_(buffer), capacity_(capacity) {
    memcached_result_create(mc_, &result_);
  }
  ~MemcachedSession() override {
    memcached_result_free(&result_);
    memcached_free(mc_);
  }
  char* buffer() const override { return buf_; }
  size_t capacity() const override { return capacity_; }

  absl::Status Put(absl::Span<const std::string> keys, size_t block_bytes, bool) override {
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string flat = FlatKey(keys[i]);
      memcached_return_t rc =
          memcached_set(mc_, flat.data(), flat.size(), buf_ + i * block_bytes, block_bytes, 0, 0);
      if (rc != MEMCACHED_SUCCESS) return Failed(rc);
    }
    return absl::OkStatus();
  }

  absl::Status Get(absl::Span<const std::string> keys, size_t block_bytes) override {
    auto found = MultiGet(keys, block_bytes);
    if (!found.ok()) return found.status();
    for (bool f : *found) {
      if (!f) return absl::NotFoundError("memcached: a key is missing");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> PrefixFetch(absl::Span<const std::string> keys,
                                     size_t block_bytes) override {
    auto found = MultiGet(keys, block_bytes);
    if (!found.ok()) return found.status();
    size_t matched = 0;
    while (matched < found->size() && (*found)[matched]) ++matched;
    return matched;
  }

 private:
  // One multi-get; each hit lands at its key's slot. Returns which keys were hits.
  absl::StatusOr<std::vector<bool>> MultiGet(absl::Span<const std::string> keys,
                                             size_t block_bytes) {
    std::vector<std::string> flat;
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    absl::flat_hash_map<std::string_view, size_t> slot;
    flat.reserve(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      flat.push_back(FlatKey(keys[i]));
      ptrs.push_back(flat.back().data());
      lens.push_back(flat.back().size());
      slot[flat.back()] = i;
    }
    memcached_return_t rc = memcached_mget(mc_, ptrs.data(), lens.data(), keys.size());
    if (rc != MEMCACHED_SUCCESS) return Failed(rc);
    std::vector<bool> found(keys.size(), false);
    while (memcached_fetch_result(mc_, &result_, &rc) != nullptr) {
      auto it = slot.find(std::string_view(memcached_result_key_value(&result_),
                                           memcached_result_key_length(&result_)));
      if (it == slot.end()) return absl::InternalError("memcached: a key not asked for");
      if (memcached_result_length(&result_) != block_bytes) {
        return absl::DataLossError(
            absl::StrCat("memcached: a value of ", memcached_result_length(&result_), " bytes"));
      }
      std::memcpy(buf_ + it->second * block_bytes, memcached_result_value(&result_), block_bytes);
      found[it->second] = true;
    }
    if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND) {
      return Failed(rc);
    }
    return found;
  }
  absl::Status Failed(memcached_return_t rc) const {
    return absl::UnavailableError(absl::StrCat("memcached: ", memcached_strerror(mc_, rc)));
  }

  memcached_st* const mc_;
  memcached_result_st result_;
  char* const buf_;
  const size_t capacity_;
};

absl::StatusOr<std::unique_ptr<StoreSession>> ConnectMemcached(const std::string& address,
                                                               char* buffer, size_t capacity) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(address, &host, &port)) {
    return absl::InvalidArgumentError(absl::StrCat("memcached address '", address, "'"));
  }
  memcached_st* mc = memcached_create(nullptr);
  if (mc == nullptr) return absl::ResourceExhaustedError("memcached_create");
  if (memcached_server_add(mc, host.c_str(), static_cast<in_port_t>(port)) != MEMCACHED_SUCCESS ||
      memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1) != MEMCACHED_SUCCESS) {
    memcached_free(mc);
    return absl::InvalidArgumentError(absl::StrCat("memcached address '", address, "'"));
  }
  auto session = std::make_unique<MemcachedSession>(mc, buffer, capacity);
  // memcached connects lazily: one miss proves it answers.
  std::vector<std::string> probe = {"probe"};
  auto st = session->PrefixFetch(probe, 1);
  if (!st.ok()) return st.status();
  return session;
}

// --- strata (its own client) -------------------------------------------------------------------

class StrataSession final : public StoreSession {
 public:
  StrataSession(std::unique_ptr<Client> client, bool ucx, char* buffer, size_t capacity)
      : client_(std::move(client)), ucx_(ucx), buf_(buffer), capacity_(capacity) {}
  ~StrataSession() override {
    registered_.reset();  // before the client
    client_.reset();
  }
  absl::Status Register() {
    auto reg = client_->RegisterBuffer(buf_, capacity_);
    if (!reg.ok()) return reg.status();
    registered_ = *std::move(reg);
    return absl::OkStatus();
  }
  char* buffer() const override { return buf_; }
  size_t capacity() const override { return capacity_; }

  absl::Status Put(absl::Span<const std::string> keys, size_t block_bytes, bool chain) override {
    absl::StatusOr<std::vector<absl::Status>> st;
    if (ucx_) {
      std::vector<PutFromBlock> blocks;
      for (size_t i = 0; i < keys.size(); ++i) {
        blocks.push_back({keys[i],
                          chain && i > 0 ? std::string_view(keys[i - 1]) : "",
                          {},
                          i * block_bytes,
                          block_bytes});
      }
      st = client_->PutFrom(kCompareNamespace, *registered_, blocks);
    } else {
      std::vector<PutBlock> blocks;
      for (size_t i = 0; i < keys.size(); ++i) {
        blocks.push_back({keys[i],
                          chain && i > 0 ? std::string_view(keys[i - 1]) : "",
                          {},
                          std::string_view(buf_ + i * block_bytes, block_bytes)});
      }
      st = client_->Put(kCompareNamespace, blocks);
    }
    if (!st.ok()) return st.status();
    for (const absl::Status& s : *st) {
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Get(absl::Span<const std::string> keys, size_t block_bytes) override {
    if (ucx_) {
      std::vector<uint64_t> offsets(keys.size()), sizes(keys.size(), block_bytes);
      for (size_t i = 0; i < keys.size(); ++i) offsets[i] = i * block_bytes;
      auto got = client_->GetInto(kCompareNamespace, keys, *registered_, offsets, sizes);
      if (!got.ok()) return got.status();
      for (const GetIntoResult& g : *got) {
        if (!g.status.ok()) return g.status;
        if (g.size != block_bytes) return absl::DataLossError("strata: a block of another size");
      }
      return absl::OkStatus();
    }
    auto got = client_->Get(kCompareNamespace, keys);
    if (!got.ok()) return got.status();
    for (size_t i = 0; i < got->size(); ++i) {
      const GetResult& g = (*got)[i];
      if (!g.status.ok()) return g.status;
      if (g.payload.size() != block_bytes) {
        return absl::DataLossError("strata: a block of another size");
      }
      std::memcpy(buf_ + i * block_bytes, g.payload.data(), block_bytes);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> PrefixFetch(absl::Span<const std::string> keys,
                                     size_t block_bytes) override {
    auto matched = client_->Lookup(kCompareNamespace, keys);
    if (!matched.ok()) return matched.status();
    if (*matched == 0) return 0;
    absl::Status st = Get(keys.subspan(0, *matched), block_bytes);
    if (!st.ok()) return st;
    return *matched;
  }

 private:
  std::unique_ptr<Client> client_;
  const bool ucx_;
  char* const buf_;
  const size_t capacity_;
  std::unique_ptr<RegisteredBuffer> registered_;
};

absl::StatusOr<std::unique_ptr<StoreSession>> ConnectStrata(const std::string& address, bool ucx,
                                                            char* buffer, size_t capacity) {
  ClientOptions o;
  o.address = address;
  o.data_path = ucx ? ClientOptions::DataPath::kUcx : ClientOptions::DataPath::kGrpc;
  o.ucx_attempts = 1;  // a benchmark reports failures, it does not hide them
  auto client = Client::Connect(o);
  if (!client.ok()) return client.status();
  if (ucx && (*client)->data_path() != "ucx") {
    return absl::FailedPreconditionError(
        absl::StrCat("strata node ", address, " offers no UCX data plane"));
  }
  auto session = std::make_unique<StrataSession>(*std::move(client), ucx, buffer, capacity);
  if (ucx) {
    absl::Status st = session->Register();
    if (!st.ok()) return st;
  }
  return session;
}

}  // namespace

absl::StatusOr<std::unique_ptr<StoreSession>> ConnectStore(const StoreSpec& spec, char* buffer,
                                                           size_t capacity) {
  if (spec.name == "redis") return ConnectRedis(spec.address, buffer, capacity);
  if (spec.name == "memcached") return ConnectMemcached(spec.address, buffer, capacity);
  if (spec.name == "strata-grpc") return ConnectStrata(spec.address, false, buffer, capacity);
  if (spec.name == "strata-ucx-tcp" || spec.name == "strata-ucx-shm") {
    return ConnectStrata(spec.address, true, buffer, capacity);
  }
  return absl::InvalidArgumentError(absl::StrCat("store: unknown '", spec.name, "'"));
}

}  // namespace strata::bench
