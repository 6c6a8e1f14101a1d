#include "tests/testing/start_node.h"

#include <utility>

#include "gtest/gtest.h"

namespace strata::testing {

std::unique_ptr<NodeProcess> StartNode(const std::string& dir, const std::vector<std::string>& args,
                                       int port) {
  std::string error;
  auto node = NodeProcess::Start(dir, args, &error, port);
  EXPECT_NE(node, nullptr) << error;
  return node;
}

std::unique_ptr<Client> ConnectTo(const NodeProcess& node, ClientOptions options) {
  options.address = node.address();
  auto client = Client::Connect(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

}  // namespace strata::testing
