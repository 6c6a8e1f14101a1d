#include "stratactl/replay/trace.h"

#include <cmath>
#include <fstream>
#include <istream>
#include <ostream>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "nlohmann/json.hpp"

namespace strata::replay {
namespace {

absl::StatusOr<uint64_t> NonNegativeInteger(const nlohmann::json& v, std::string_view field) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    if (x >= 0) return static_cast<uint64_t>(x);
  }
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (x >= 0 && std::floor(x) == x && x < 1.8e19) return static_cast<uint64_t>(x);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("field '", AsAbsl(field), "': expected a non-negative integer"));
}

}  // namespace

absl::StatusOr<TraceRequest> ParseTraceLine(std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("not a JSON object");
  }
  TraceRequest r;
  auto ts = j.find("timestamp");
  if (ts != j.end()) {
    if (!ts->is_number() || ts->get<double>() < 0) {
      return absl::InvalidArgumentError("field 'timestamp': expected a non-negative number");
    }
    r.timestamp_ms = ts->get<double>();
  }
  for (const char* field : {"input_length", "output_length"}) {
    auto f = j.find(field);
    if (f == j.end()) continue;
    auto v = NonNegativeInteger(*f, field);
    if (!v.ok()) return v.status();
    (std::string_view(field) == "input_length" ? r.input_length : r.output_length) = *v;
  }
  auto ids = j.find("hash_ids");
  if (ids == j.end() || !ids->is_array()) {
    return absl::InvalidArgumentError("field 'hash_ids': expected an array of block ids");
  }
  r.hash_ids.reserve(ids->size());
  for (const auto& id : *ids) {
    auto v = NonNegativeInteger(id, "hash_ids");
    if (!v.ok()) return v.status();
    r.hash_ids.push_back(*v);
  }
  return r;
}

absl::StatusOr<std::vector<TraceRequest>> ReadTrace(std::istream& in, std::string_view source) {
  std::vector<TraceRequest> out;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto r = ParseTraceLine(line);
    if (!r.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AsAbsl(source), ":", line_no, ": ", r.status().message()));
    }
    out.push_back(*std::move(r));
  }
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(AsAbsl(source), ": read error"));
  }
  return out;
}

absl::StatusOr<std::vector<TraceRequest>> ReadTraceFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("trace '", path, "': cannot open"));
  return ReadTrace(in, path);
}

void WriteTrace(const std::vector<TraceRequest>& requests, std::ostream& out) {
  for (const TraceRequest& r : requests) {
    nlohmann::json j;
    if (std::floor(r.timestamp_ms) == r.timestamp_ms && r.timestamp_ms < 9e15) {
      j["timestamp"] = static_cast<uint64_t>(r.timestamp_ms);
    } else {
      j["timestamp"] = r.timestamp_ms;
    }
    j["input_length"] = r.input_length;
    j["output_length"] = r.output_length;
    j["hash_ids"] = r.hash_ids;
    out << j.dump() << '\n';
  }
}

uint64_t CountDistinctBlocks(const std::vector<TraceRequest>& requests) {
  absl::flat_hash_set<uint64_t> seen;
  for (const TraceRequest& r : requests) seen.insert(r.hash_ids.begin(), r.hash_ids.end());
  return seen.size();
}

uint32_t BlockTokens(const TraceRequest& request, size_t j, uint32_t block_tokens) {
  const uint64_t start = static_cast<uint64_t>(j) * block_tokens;
  if (request.input_length == 0 || request.input_length <= start) return block_tokens;
  const uint64_t rest = request.input_length - start;
  return rest >= block_tokens ? block_tokens : static_cast<uint32_t>(rest);
}

}  // namespace strata::replay
