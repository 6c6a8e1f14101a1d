#include "transfer/internal/ucx_lanes.h"

#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/strings.h"

namespace strata::transfer::internal {

namespace {

// Transports whose RMA lanes reach memory registered with ucp_mem_map (see ucx_lanes.h).
bool IsRegisteredMemoryRmaTransport(absl::string_view transport) {
  const absl::string_view tl = transport.substr(0, transport.find('/'));
  return tl == "rc_verbs" || tl == "rc_mlx5" || tl == "dc_mlx5" || tl == "xpmem";
}

}  // namespace

EndpointLanes ParseEndpointInfo(std::string_view text) {
  EndpointLanes lanes;
  bool has_rma_lanes = false;
  bool has_registered_memory_transport = false;
  std::vector<std::string> transports;
  std::set<std::string> seen;
  for (absl::string_view line : absl::StrSplit(AsAbsl(text), '\n')) {
    line = absl::StripLeadingAsciiWhitespace(line);
    absl::ConsumePrefix(&line, "#");
    line = absl::StripLeadingAsciiWhitespace(line);
    if (absl::StartsWith(line, "put[") || absl::StartsWith(line, "get[")) {
      has_rma_lanes = true;
      continue;
    }
    if (!absl::StartsWith(line, "lane[")) continue;
    // "lane[2]:  2:cma/memory.0 md[2]  -> md[2]/cma/sysdev[255] rma_bw#0"
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.size() < 2) continue;
    absl::string_view resource = words[1];
    const size_t colon = resource.find(':');
    if (colon != absl::string_view::npos) resource.remove_prefix(colon + 1);
    const size_t dot = resource.rfind('.');
    if (dot != absl::string_view::npos) resource = resource.substr(0, dot);
    std::string name(resource);
    if (IsRegisteredMemoryRmaTransport(resource)) has_registered_memory_transport = true;
    if (seen.insert(name).second) transports.push_back(name);
  }
  lanes.native_rma = has_rma_lanes && has_registered_memory_transport;
  lanes.transports = absl::StrJoin(transports, ",");
  return lanes;
}

namespace {

template <typename Print>
std::string PrintToString(Print print) {
  char* buffer = nullptr;
  size_t size = 0;
  FILE* stream = open_memstream(&buffer, &size);
  if (stream == nullptr) return {};
  print(stream);
  std::fclose(stream);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

}  // namespace

EndpointLanes InspectEndpoint(ucp_ep_h ep) {
  return ParseEndpointInfo(PrintToString([ep](FILE* f) { ucp_ep_print_info(ep, f); }));
}

namespace {

// The transport names of the context's "resource N : ... flags -- tl/dev" lines.
std::vector<std::string> ContextTransports(std::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(AsAbsl(text), '\n')) {
    if (!absl::StrContains(line, "resource")) continue;
    const size_t dashes = line.find("-- ");
    if (dashes == absl::string_view::npos) continue;
    absl::string_view resource = line.substr(dashes + 3);
    out.emplace_back(resource.substr(0, resource.find('/')));
  }
  return out;
}

bool AnyOf(const std::vector<std::string>& transports,
           std::initializer_list<std::string_view> names) {
  for (const std::string& tl : transports) {
    for (std::string_view name : names) {
      if (tl == name) return true;
    }
  }
  return false;
}

}  // namespace

bool ParseContextHasNativeRma(std::string_view text) {
  return AnyOf(ContextTransports(text), {"sysv", "posix", "cma", "knem", "xpmem", "rc_verbs",
                                         "rc_mlx5", "dc_mlx5", "cuda_ipc", "gdr_copy", "rocm_ipc"});
}

bool ParseContextHasPeerFailureTransport(std::string_view text) {
  return AnyOf(ContextTransports(text),
               {"tcp", "rc_verbs", "rc_mlx5", "dc_mlx5", "ud_verbs", "ud_mlx5"});
}

bool ParseConfigMayUseSharedMemory(std::string_view text) {
  for (absl::string_view line : absl::StrSplit(AsAbsl(text), '\n')) {
    if (!absl::ConsumePrefix(&line, "UCX_TLS=")) continue;
    if (absl::StartsWith(line, "^")) return true;  // "all but ..."
    for (absl::string_view tl : absl::StrSplit(line, ',')) {
      if (tl == "all" || tl == "sm" || tl == "shm" || tl == "sysv" || tl == "posix" || tl == "mm") {
        return true;
      }
    }
    return false;
  }
  return true;  // not printed: assume the default, which includes shared memory
}

bool ConfigMayUseSharedMemory(const ucp_config_t* config) {
  return ParseConfigMayUseSharedMemory(PrintToString(
      [config](FILE* f) { ucp_config_print(config, f, nullptr, UCS_CONFIG_PRINT_CONFIG); }));
}

bool ContextHasPeerFailureTransport(ucp_context_h context) {
  return ParseContextHasPeerFailureTransport(
      PrintToString([context](FILE* f) { ucp_context_print_info(context, f); }));
}

bool ContextHasNativeRma(ucp_context_h context) {
  return ParseContextHasNativeRma(
      PrintToString([context](FILE* f) { ucp_context_print_info(context, f); }));
}

}  // namespace strata::transfer::internal
