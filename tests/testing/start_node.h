// The two steps most strata-node tests begin with, each failing the current test (EXPECT, not
// ASSERT: the caller decides whether to go on) with the reason when it does not succeed:
//
//   auto node = testing::StartNode(dir, {"--dram", "16MiB", "--ssd", "0"});
//   ASSERT_NE(node, nullptr);
//   auto client = testing::ConnectTo(*node);
//   ASSERT_NE(client, nullptr);
#ifndef STRATA_TESTS_TESTING_START_NODE_H_
#define STRATA_TESTS_TESTING_START_NODE_H_

#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "tests/testing/process.h"

namespace strata::testing {

// NodeProcess::Start(dir, args, &error, port); nullptr (and a test failure carrying the node's
// stderr) when it does not come up.
std::unique_ptr<NodeProcess> StartNode(const std::string& dir, const std::vector<std::string>& args,
                                       int port = 0);

// Client::Connect with `options` aimed at `node` (options.address is replaced by the node's);
// nullptr (and a test failure carrying the status) when it fails.
std::unique_ptr<Client> ConnectTo(const NodeProcess& node, ClientOptions options = {});

}  // namespace strata::testing

#endif  // STRATA_TESTS_TESTING_START_NODE_H_
