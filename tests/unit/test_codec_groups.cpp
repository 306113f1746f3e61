// The channel and group datagrams (manual §4.9, docs/PROTOCOL.md): worst
// cases fit one datagram, GroupList answers split and reassemble, and
// malformed group fields are refused.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "protocol/codec.hpp"
#include "protocol/limits.hpp"

using namespace udpchat;

namespace {

const std::string kNick32(32, 'n');

std::string quotes(std::size_t n) {
  return std::string(n, '"');
}

std::string with(nlohmann::json j) {
  j["v"] = kProtocolVersion;
  const auto bytes = nlohmann::json::to_cbor(j);
  return {bytes.begin(), bytes.end()};
}

}  // namespace

TEST_SUITE("codec: channels and groups") {
  TEST_CASE("a Post and a group Deliver of 1000 quotes with maximal fields fit one datagram") {
    const Post post{UINT64_MAX, kNick32, kNick32, UINT64_MAX, quotes(kMaxMessageBytes)};
    const Deliver deliver{UINT64_MAX, kNick32, UINT64_MAX, quotes(kMaxMessageBytes),
                          INT64_MIN,  kNick32};
    for (const Message& m : {Message{post}, Message{deliver}}) {
      const std::string bytes = encode(m);
      CHECK(bytes.size() <= kMaxDatagramBytes);
      // Room left for the AEAD nonce and tag of end-to-end encryption.
      CHECK(kMaxDatagramBytes - bytes.size() >= 40);
      const auto d = decode(bytes);
      REQUIRE(d.has_value());
      CHECK(*d == m);
    }
  }

  TEST_CASE("split_groups: every part fits, order kept, a big group continues under its name") {
    std::vector<GroupInfo> groups;
    for (int g = 0; g < 40; ++g) {
      GroupInfo info{"group" + std::to_string(g), {}};
      const int members = g == 7 ? 500 : g % 5;
      for (int i = 0; i < members; ++i) {
        info.members.push_back(kNick32.substr(0, 24) + std::to_string(100000 + i));
      }
      groups.push_back(std::move(info));
    }
    const auto parts = split_groups(groups);
    CHECK(parts.size() > 10);
    std::vector<GroupInfo> merged;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const GroupList list{UINT64_MAX, static_cast<std::uint32_t>(i),
                           static_cast<std::uint32_t>(parts.size()), parts[i]};
      const std::string bytes = encode(list);
      CHECK(bytes.size() <= kMaxDatagramBytes);
      const auto d = decode(bytes);
      REQUIRE(d.has_value());
      for (const GroupInfo& g : std::get<GroupList>(*d).groups) {
        if (!merged.empty() && merged.back().name == g.name) {
          merged.back().members.insert(merged.back().members.end(), g.members.begin(),
                                       g.members.end());
        } else {
          merged.push_back(g);
        }
      }
    }
    CHECK(merged == groups);
    CHECK(split_groups({}).size() == 1);
  }

  TEST_CASE("malformed group fields are dropped as bad fields") {
    using nlohmann::json;
    const auto bad = [](const json& j) {
      const auto d = decode(with(j));
      return !d.has_value() && d.error() == DecodeError::kBadField;
    };
    CHECK(bad({{"t", "post"},
               {"id", 1},
               {"from", "a"},
               {"group", "no spaces"},
               {"mid", 2},
               {"text", "x"}}));
    CHECK(bad({{"t", "post"}, {"id", 1}, {"from", "a"}, {"mid", 2}, {"text", "x"}}));
    CHECK(bad({{"t", "join"}, {"id", 1}, {"from", "a"}, {"group", "*"}}));  // not a group
    CHECK(bad({{"t", "leave"}, {"id", 1}, {"from", "a"}, {"group", 7}}));
    CHECK(bad({{"t", "groups"}, {"id", 1}}));
    CHECK(bad({{"t", "grouplist"},
               {"id", 1},
               {"part", 0},
               {"parts", 1},
               {"groups", json::array({json::array({"g", json::array({"bad nick"})})})}}));
    CHECK(
        bad({{"t", "grouplist"}, {"id", 1}, {"part", 1}, {"parts", 1}, {"groups", json::array()}}));
    CHECK(bad({{"t", "deliver"},
               {"id", 1},
               {"from", "a"},
               {"mid", 2},
               {"text", "x"},
               {"at", 0},
               {"group", ""}}));
    // The channel is a valid target of a post and a delivery.
    CHECK(decode(with({{"t", "post"},
                       {"id", 1},
                       {"from", "a"},
                       {"group", "*"},
                       {"mid", 2},
                       {"text", "x"}}))
              .has_value());
  }
}
