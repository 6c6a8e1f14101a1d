#include "cachenode/options.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "tests/testing/temp_cleanup.h"

namespace strata {
namespace {

std::string WriteConfig(const std::string& text) {
  const std::string path =
      ::testing::TempDir() + "/strata-config-" + std::to_string(::getpid()) + ".yaml";
  std::ofstream(path) << text;
  strata::testing::RemoveAtExitIfPassed(path);
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
}

TEST(NodeOptions, ClusterFlagsComeTogetherAndAreChecked) {
  NodeOptions o;
  o.etcd = {"http://127.0.0.1:2379"};
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.Validate().message().find("--cluster"), absl::string_view::npos);
  o.cluster = "prod-1";
  EXPECT_TRUE(o.Validate().ok()) << o.Validate();
  o.cluster = "bad/name";
  EXPECT_NE(o.Validate().message().find("--cluster"), absl::string_view::npos);
  o.cluster = "prod-1";
  o.etcd = {"127.0.0.1:2379"};
  EXPECT_NE(o.Validate().message().find("--etcd"), absl::string_view::npos);
  o.etcd = {"http://127.0.0.1:2379"};
  o.advertise = "10.0.0.5:0";
  EXPECT_NE(o.Validate().message().find("--advertise"), absl::string_view::npos);
  o.advertise = "10.0.0.5:7100";
  EXPECT_TRUE(o.Validate().ok());
  o.cluster_tuning.heartbeat_ms = 6000;  // not below the 5 s lease
  EXPECT_NE(o.Validate().message().find("cluster.heartbeat_ms"), absl::string_view::npos);
  o = NodeOptions();
  o.cluster = "only-a-name";
  EXPECT_NE(o.Validate().message().find("--etcd"), absl::string_view::npos);
}

TEST(ConfigFile, ClusterMappingSetsTheTuning) {
  NodeOptions o;
  const std::string path = WriteConfig(R"(
etcd: [http://127.0.0.1:2379, http://127.0.0.1:2380]
cluster: {name: prod, lease_ttl_s: 10, heartbeat_ms: 2000, replicas: 2}
advertise: 127.0.0.1:7100
)");
  ASSERT_TRUE(ApplyConfigFile(path, &o).ok()) << ApplyConfigFile(path, &o);
  EXPECT_EQ(o.cluster, "prod");
  EXPECT_EQ(o.etcd.size(), 2u);
  EXPECT_EQ(o.cluster_tuning.lease_ttl_s, 10u);
  EXPECT_EQ(o.cluster_tuning.heartbeat_ms, 2000u);
  EXPECT_EQ(o.cluster_tuning.replicas, 2);
  EXPECT_TRUE(o.Validate().ok()) << o.Validate();
  const std::string bad = WriteConfig("cluster: {name: prod, lease: 3}\n");
  EXPECT_NE(ApplyConfigFile(bad, &o).message().find("cluster.lease"), absl::string_view::npos);
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
  ssd: {policy: s3fifo}
limits: {max_batch: 64, max_payload: 4MiB, max_message: 64MiB}
leases: {max_ttl_ms: 1000, max_bytes: 1MiB}
)");
  ASSERT_TRUE(ApplyConfigFile(path, &o).ok()) << ApplyConfigFile(path, &o);
  EXPECT_EQ(o.listen, "127.0.0.1:7300");
  EXPECT_EQ(o.dram_bytes, 64u << 20);
  EXPECT_EQ(o.ssd_bytes, 2ull << 30);
  EXPECT_EQ(o.ssd_dir, "/tmp/strata-x");
  EXPECT_FALSE(o.promote_on_hit);
  EXPECT_EQ(o.dram.policy, "lru");
  EXPECT_DOUBLE_EQ(o.dram.high_watermark, 0.9);
  EXPECT_DOUBLE_EQ(o.dram.low_watermark, 0.8);
  EXPECT_EQ(o.ssd.policy, "s3fifo");
  EXPECT_EQ(o.dram_page_bytes, 8192u);
  EXPECT_EQ(o.limits.max_batch, 64u);
  EXPECT_EQ(o.limits.max_payload_bytes, 4u << 20);
  EXPECT_EQ(o.max_message_bytes, 64u << 20);
  EXPECT_EQ(o.max_lease_ms, 1000u);
  EXPECT_EQ(o.max_leased_bytes, 1u << 20);
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

TEST(NodeOptions, InflightBudgetFollowsDramWithinItsBoundsAndCapsTheMessage) {
  NodeOptions o;
  constexpr uint64_t kMiB = 1ull << 20;
  o.dram_bytes = 64 * kMiB;  // DRAM/4 = 16 MiB: the 64 MiB floor
  EXPECT_EQ(o.EffectiveInflightBytes(), 64 * kMiB);
  EXPECT_EQ(o.EffectiveMaxMessageBytes(), 64 * kMiB);
  o.dram_bytes = 1024 * kMiB;  // DRAM/4
  EXPECT_EQ(o.EffectiveInflightBytes(), 256 * kMiB);
  o.dram_bytes = 64 * 1024 * kMiB;  // the 1 GiB ceiling; the message stays at max_message
  EXPECT_EQ(o.EffectiveInflightBytes(), 1024 * kMiB);
  EXPECT_EQ(o.EffectiveMaxMessageBytes(), 512 * kMiB);
  o.dram_bytes = 64 * kMiB;
  o.data_plane.enabled = false;             // its staging would have to hold the payload too
  o.limits.max_payload_bytes = 200 * kMiB;  // never less than one maximal message
  EXPECT_EQ(o.EffectiveInflightBytes(), 200 * kMiB + kMessageSlackBytes);
  o.inflight_bytes = 100 * kMiB;  // an explicit budget that cannot hold one payload
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(o.Validate().message().find("limits.inflight_bytes"), absl::string_view::npos);
  o.inflight_bytes = 300 * kMiB;
  EXPECT_TRUE(o.Validate().ok()) << o.Validate();
  EXPECT_EQ(o.EffectiveInflightBytes(), 300 * kMiB);
}

TEST(NodeOptions, OverloadLimitsAndPlaintextDataPlaneComeFromYaml) {
  NodeOptions o;
  ASSERT_TRUE(ApplyConfigFile(WriteConfig("limits: {inflight_bytes: 96MiB, handshake_timeout_ms: "
                                          "2000, max_connection_idle_ms: 60000, "
                                          "max_concurrent_streams: 8, listener_check_ms: 0}\n"
                                          "data_plane: {allow_plaintext: true}\n"),
                              &o)
                  .ok());
  EXPECT_EQ(o.inflight_bytes, 96ull << 20);
  EXPECT_EQ(o.handshake_timeout_ms, 2000u);
  EXPECT_EQ(o.max_connection_idle_ms, 60000u);
  EXPECT_EQ(o.max_concurrent_streams, 8u);
  EXPECT_EQ(o.listener_check_ms, 0u);
  EXPECT_TRUE(o.data_plane.allow_plaintext);
  o.handshake_timeout_ms = 0;
  EXPECT_EQ(o.Validate().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata
