#include "cachenode/options.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace strata {
namespace {

std::string WriteConfig(const std::string& text) {
  const std::string path =
      ::testing::TempDir() + "/strata-config-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << text;
  return path;
}

TEST(NodeOptions, DefaultsAreValid) {
  NodeOptions o;
  EXPECT_TRUE(o.Validate().ok()) << o.Validate();
  EXPECT_EQ(o.EffectiveMetricsListen(), "127.0.0.1:7180");
  o.listen = "127.0.0.1:0";
  EXPECT_EQ(o.EffectiveMetricsListen(), "127.0.0.1:0");
  o.metrics_listen = "off";
  EXPECT_EQ(o.EffectiveMetricsListen(), "");
}

TEST(NodeOptions, BadValuesNameTheOption) {
  NodeOptions o;
  o.listen = "nohostport";
  EXPECT_NE(o.Validate().message().find("--listen"), absl::string_view::npos);
  o = NodeOptions();
  o.dram_bytes = 100;
  EXPECT_NE(o.Validate().message().find("--dram"), absl::string_view::npos);
  o = NodeOptions();
  o.dram.policy = "mru";
  EXPECT_NE(o.Validate().message().find("mru"), absl::string_view::npos);
  o = NodeOptions();
  o.tls_cert = "cert.pem";
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  o = NodeOptions();
  o.etcd = {"http://127.0.0.1:2379"};
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kUnimplemented);
}

TEST(ConfigFile, AppliesEveryDocumentedKey) {
  NodeOptions o;
  const std::string path = WriteConfig(R"(
listen: 127.0.0.1:7300
dram: 64MiB
ssd: 2GiB
ssd_dir: /tmp/strata-x
promote_on_hit: false
tiers:
  dram: {policy: lru, high_watermark: 0.9, low_watermark: 0.8, page_size: 8KiB}
  ssd: {policy: lru}
limits: {max_batch: 64, max_payload: 4MiB, max_message: 64MiB}
leases: {max_ttl_ms: 1000, max_bytes: 1MiB}
)");
  ASSERT_TRUE(ApplyConfigFile(path, &o).ok()) << ApplyConfigFile(path, &o);
  EXPECT_EQ(o.listen, "127.0.0.1:7300");
  EXPECT_EQ(o.dram_bytes, 64u << 20);
  EXPECT_EQ(o.ssd_bytes, 2ull << 30);
  EXPECT_EQ(o.ssd_dir, "/tmp/strata-x");
  EXPECT_FALSE(o.promote_on_hit);
  EXPECT_DOUBLE_EQ(o.dram.high_watermark, 0.9);
  EXPECT_EQ(o.dram_page_bytes, 8192u);
  EXPECT_EQ(o.limits.max_batch, 64u);
  EXPECT_EQ(o.limits.max_payload_bytes, 4u << 20);
  EXPECT_EQ(o.max_lease_ms, 1000u);
  EXPECT_TRUE(o.Validate().ok());
  std::remove(path.c_str());
}

TEST(ConfigFile, PoliciesAndCodecsAreChosenPerTier) {
  NodeOptions o;
  const std::string path = WriteConfig(R"(
tiers:
  dram: {policy: prefix-aware, codec: raw}
  ssd: {policy: s3fifo, codec: shuffle-lz4}
namespace_codecs:
  - {prefix: "acme/", tier: ssd, codec: kivi4}
)");
  const absl::Status applied = ApplyConfigFile(path, &o);
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_EQ(o.dram.policy, "prefix-aware");
  EXPECT_EQ(o.ssd.policy, "s3fifo");
  EXPECT_EQ(o.ssd.codec, "shuffle-lz4");
  ASSERT_EQ(o.namespace_codecs.size(), 1u);
  EXPECT_EQ(o.namespace_codecs[0].codec, "kivi4");
  EXPECT_TRUE(o.Validate().ok()) << o.Validate();
  o.ssd.codec = "int8";  // lossy as a tier default: refused
  EXPECT_NE(o.Validate().message().find("lossy"), absl::string_view::npos);
  o.ssd.codec = "raw";
  o.namespace_codecs[0].tier = "tape";
  EXPECT_NE(o.Validate().message().find("namespace_codecs[0].tier"), absl::string_view::npos);
  std::remove(path.c_str());
}

TEST(ConfigFile, DataPlaneKeysAndTheirBounds) {
  NodeOptions o;
  EXPECT_TRUE(o.data_plane.enabled);
  EXPECT_EQ(o.data_plane.tls, "tcp");
  EXPECT_EQ(o.dram.policy, kRecommendedEvictionPolicy);
  std::string path = WriteConfig(R"(
data_plane:
  enabled: true
  tls: shm
  staging_bytes: 32MiB
  session_idle_ms: 5000
  transfer_timeout_ms: 250
  progress: busy
  messages: false
  call_threads: 3
  fault: {seed: 9, fail: 0.25, drop: 0.25, delay: 0.25, delay_ms: 40, disconnect: 0.25}
)");
  absl::Status applied = ApplyConfigFile(path, &o);
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_EQ(o.data_plane.tls, "shm");
  EXPECT_EQ(o.data_plane.staging_bytes, 32u << 20);
  EXPECT_EQ(o.data_plane.session_idle_ms, 5000u);
  EXPECT_EQ(o.data_plane.transfer_timeout_ms, 250u);
  EXPECT_EQ(o.data_plane.progress, "busy");
  EXPECT_FALSE(o.data_plane.messages);
  EXPECT_EQ(o.data_plane.call_threads, 3u);
  EXPECT_EQ(o.data_plane.fault.seed, 9u);
  EXPECT_DOUBLE_EQ(o.data_plane.fault.disconnect_probability, 0.25);
  EXPECT_EQ(o.data_plane.fault.delay, absl::Milliseconds(40));
  EXPECT_TRUE(o.Validate().ok()) << o.Validate();

  o.data_plane.fault.fail_probability = 0.5;  // sums to 1.25
  EXPECT_NE(o.Validate().message().find("data_plane.fault"), absl::string_view::npos);
  o = NodeOptions();
  o.data_plane.tls = "rdma";
  EXPECT_NE(o.Validate().message().find("data_plane.tls"), absl::string_view::npos);
  o = NodeOptions();
  EXPECT_EQ(o.data_plane.progress, "event");
  EXPECT_TRUE(o.data_plane.messages);
  o.data_plane.progress = "spin";
  EXPECT_NE(o.Validate().message().find("data_plane.progress"), absl::string_view::npos);
  o = NodeOptions();
  o.data_plane.call_threads = 0;
  EXPECT_NE(o.Validate().message().find("data_plane.call_threads"), absl::string_view::npos);
  o = NodeOptions();
  o.data_plane.staging_bytes = 1 << 20;  // below the 16 MiB max payload
  EXPECT_NE(o.Validate().message().find("data_plane.staging_bytes"), absl::string_view::npos);
  path = WriteConfig("data_plane: {turbo: 1}\n");
  EXPECT_NE(ApplyConfigFile(path, &o).message().find("data_plane.turbo"), absl::string_view::npos);
  path = WriteConfig("data_plane: {fault: {fail: 2}}\n");
  EXPECT_EQ(ApplyConfigFile(path, &o).code(), absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
}

TEST(ConfigFile, ErrorsNameTheFileAndKey) {
  NodeOptions o;
  std::string path = WriteConfig("dram: 64MiB\nbogus: 1\n");
  auto st = ApplyConfigFile(path, &o);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("bogus"), absl::string_view::npos);
  EXPECT_NE(st.message().find(path), absl::string_view::npos);
  path = WriteConfig("dram: lots\n");
  EXPECT_NE(ApplyConfigFile(path, &o).message().find("dram"), absl::string_view::npos);
  path = WriteConfig("tiers: {dram: {high_watermark: high}}\n");
  EXPECT_NE(ApplyConfigFile(path, &o).message().find("tiers.dram.high_watermark"),
            absl::string_view::npos);
  path = WriteConfig("listen: [unclosed\n");
  EXPECT_EQ(ApplyConfigFile(path, &o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyConfigFile("/nonexistent/strata.yaml", &o).code(), absl::StatusCode::kNotFound);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace strata
