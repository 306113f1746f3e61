// make_corpus.cpp: writes the seed corpus of fuzz_decode, one file per
// datagram, and checks what decode() says of each.
//
//   make_corpus OUTDIR
//
// The well-formed seeds are real encodings: udpchat::encode() of one message
// of every kind (and split_table() for a table in several parts), so the
// corpus follows the codec when it changes. The malformed seeds are built
// with nlohmann_json (the library the codec uses) or by cutting and editing
// real encodings. Every seed has an expected outcome (decoded equal to the
// message it came from, or a given DecodeError); a mismatch is printed and
// the exit status is 1. The output is deterministic (fixed ids), so
// regenerating tests/fuzz/corpus/ changes files only when the codec does:
//
//   build-fuzz/make_corpus tests/fuzz/corpus
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "protocol/codec.hpp"
#include "protocol/limits.hpp"
#include "protocol/messages.hpp"

namespace {

using namespace udpchat;
using json = nlohmann::json;
namespace fs = std::filesystem;

struct Expect {
  std::optional<Message> message;    // decodes to this
  std::optional<DecodeError> error;  // or fails with this
  bool any = false;                  // no expectation (only: must not crash)
};

Expect ok(Message m) {
  return {std::move(m), std::nullopt, false};
}
Expect err(DecodeError e) {
  return {std::nullopt, e, false};
}
Expect any() {
  return {std::nullopt, std::nullopt, true};
}

int g_failures = 0;
int g_written = 0;
fs::path g_out;

void seed(const std::string& name, const std::string& bytes, const Expect& expect) {
  std::ofstream f(g_out / name, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "make_corpus: cannot write %s\n", (g_out / name).c_str());
    ++g_failures;
    return;
  }
  ++g_written;
  if (expect.any) return;
  const auto got = decode(bytes);
  if (expect.message) {
    if (!got) {
      std::fprintf(stderr, "make_corpus: %s: expected to decode, got %s\n", name.c_str(),
                   to_string(got.error()));
      ++g_failures;
    } else if (!(*got == *expect.message)) {
      std::fprintf(stderr, "make_corpus: %s: decodes to a different message\n", name.c_str());
      ++g_failures;
    }
  } else if (got) {
    std::fprintf(stderr, "make_corpus: %s: expected %s, but it decoded\n", name.c_str(),
                 to_string(*expect.error));
    ++g_failures;
  } else if (got.error() != *expect.error) {
    std::fprintf(stderr, "make_corpus: %s: expected %s, got %s\n", name.c_str(),
                 to_string(*expect.error), to_string(got.error()));
    ++g_failures;
  }
}

// A real encoding, expected to decode to the same message.
void real(const std::string& name, const Message& m) {
  const std::string bytes = encode(m);
  if (bytes.size() > kMaxDatagramBytes) {
    std::fprintf(stderr, "make_corpus: %s: encoding is %zu bytes\n", name.c_str(), bytes.size());
    ++g_failures;
  }
  seed(name, bytes, ok(m));
}

std::string cbor(const json& j) {
  const auto v = json::to_cbor(j);
  return {v.begin(), v.end()};
}

// The JSON view of a real encoding, to edit one field.
json as_json(const Message& m) {
  const std::string b = encode(m);
  return json::from_cbor(b.begin(), b.end());
}

std::string repeat(std::string_view s, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus OUTDIR\n");
    return 2;
  }
  g_out = argv[1];
  std::error_code ec;
  fs::create_directories(g_out, ec);
  if (ec) {
    std::fprintf(stderr, "make_corpus: cannot create %s: %s\n", argv[1], ec.message().c_str());
    return 1;
  }

  constexpr std::uint64_t kMax64 = std::numeric_limits<std::uint64_t>::max();
  const std::string nick32 = "Abcdefghijklmnopqrstuvwxyz_0-9.Z";  // 32 characters
  const std::string quotes1000(1000, '"');
  // 1000 bytes of 3-byte characters and one ASCII byte.
  const std::string euro1000 = repeat("\xE2\x82\xAC", 333) + "a";
  const std::string cjk_emoji =
      "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C "  // 你好，世界
      "\xF0\x9F\x8C\x8D\xF0\x9F\x8E\x89 "                              // 🌍🎉
      "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF "  // こんにちは
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7";  // 👨‍👩‍👧

  // --- every kind, real encodings -------------------------------------------
  real("reg", Register{1, "alice", 30000});
  real("reg_nick32_hb0", Register{kMax64, nick32, 0});
  real("dereg", Deregister{2, "bob"});
  real("save_1000_quotes", Save{3, "alice", "bob", 0x1234567890ABCDEFULL, quotes1000});
  real("save_1000_utf8", Save{4, "alice", "Carol.Z", kMax64, euro1000});
  real("save_short", Save{5, "a", "b", 0, "hi"});
  real("hb", Heartbeat{6, "alice", 7});
  real("hb_max", Heartbeat{kMax64, nick32, kMax64});
  const char* status_names[] = {"ok",     "saved",   "exists", "unknown",
                                "in_use", "offline", "error",  "not_member"};
  for (int s = 0; s <= static_cast<int>(AckStatus::kNotMember); ++s) {
    real(std::string("ack_") + status_names[s],
         Ack{100U + static_cast<unsigned>(s), static_cast<AckStatus>(s), 0, {}});
  }
  real("ack_ok_stored", Ack{7, AckStatus::kOk, 3, {}});
  real("ack_error_detail", Ack{8, AckStatus::kError, 0, "disk I/O error \xE2\x80\x94 try later"});
  real("ping", Ping{9});
  real("chat_cjk_emoji", Chat{0xFEDCBA9876543210ULL, "alice", cjk_emoji});
  real("chat_ascii", Chat{10, "bob", "hello, this is bob"});
  real("chat_1000_quotes", Chat{11, nick32, quotes1000});
  real("deliver_stored", Deliver{12, "alice", 77, "stored while you were away", 1732233600000});
  real("deliver_live", Deliver{13, "bob", 78, cjk_emoji, 0});
  real("notice_delivered", Notice{14, NoticeKind::kDelivered, "bob", 77});
  real("notice_saved", Notice{15, NoticeKind::kSaved, "carol", 78});
  real("notice_shutdown", Notice{16, NoticeKind::kShutdown, "", 0});
  // The channel and groups.
  real("post_channel", Post{30, "alice", kEveryone, 79, "hello everyone"});
  real("post_group_1000_quotes", Post{31, nick32, nick32, kMax64, quotes1000});
  real("deliver_channel", Deliver{32, "alice", 79, "hello everyone", 0, kEveryone});
  real("deliver_group_stored", Deliver{33, "bob", 80, cjk_emoji, 1732233600000, "team"});
  real("join", Join{34, "alice", "team"});
  real("leave", Leave{35, "alice", "team"});
  real("groups", ListGroups{36, "alice"});
  real("register_password", Register{38, "alice", 30000, "correct horse battery staple"});
  real("passwd", SetPassword{39, "alice", "new passphrase"});
  real("passwd_remove", SetPassword{40, "alice", ""});
  real("delete_account", DeleteAccount{41, "alice"});
  // docs/NAT.md: introductions, punches and probes.
  real("introduce", Introduce{42, "alice", "bob"});
  real("punch", Punch{43, {"bob", "203.0.113.9", 6002, true, 3, std::string(32, 'b'),
                           "198.18.0.12", 40000}});
  real("probe", Probe{44, "alice", "bob", false, std::string(16, 't')});
  real("probe_answer", Probe{44, "bob", "alice", true, std::string(16, 'u')});
  real("relay", Relay{45, "bob", std::string(60, 'r')});
  real("relay_ack", RelayAck{45, "alice", std::string(16, 'a')});
  real("grouplist", GroupList{37, 0, 2, {{"team", {"alice", "bob"}}, {"Friends", {}}}});

  // Tables: empty, one part, and one split into several parts.
  real("table_empty", TablePart{17, 1, 0, 1, {}});
  const std::vector<TableEntry> three = {{"alice", "127.0.0.1", 40001, true},
                                         {"bob", "::1", 40002, false},
                                         {"carol", "2001:db8:85a3::8a2e:370:7334", 65535, true}};
  real("table_one_part", TablePart{18, 2, 0, 1, three});
  {
    std::vector<TableEntry> entries;
    for (int i = 0; i < 60; ++i) {
      std::string nick = "user_" + std::to_string(i) + "_" + std::string(20, 'x');
      nick.resize(std::min<std::size_t>(nick.size(), kMaxNicknameLength));
      entries.push_back(
          {nick, i % 3 == 0 ? "fe80::1234:5678:9abc:def0" : "192.168.100." + std::to_string(i),
           static_cast<std::uint16_t>(1024 + i * 997), i % 2 == 0});
    }
    std::uint64_t next = 1000;
    const auto parts = split_table(42, entries, [&] { return next++; });
    if (parts.size() < 3) {
      std::fprintf(stderr, "make_corpus: expected a table of 3+ parts, got %zu\n", parts.size());
      ++g_failures;
    }
    for (const auto& p : parts) {
      real("table_v42_part" + std::to_string(p.part) + "_of" + std::to_string(p.parts), p);
    }
  }

  // --- well-formed, but not what udpchat sends --------------------------------
  {
    // Unknown keys are ignored; an indefinite-length map is still a map.
    json j = as_json(Chat{20, "alice", "extra keys"});
    j["zz"] = json::array({1, 2, 3});
    seed("chat_extra_key", cbor(j), ok(Chat{20, "alice", "extra keys"}));

    const std::string plain = encode(Ping{21});
    std::string indef = "\xBF";  // map of indefinite length ... break
    indef += plain.substr(1);
    indef += '\xFF';
    seed("ping_indefinite_map", indef, ok(Ping{21}));

    // A chat carrying 1000 nested arrays under an unknown key (1200 bytes
    // at most, so it reaches the parser).
    std::string deep = "\xA4";
    deep += cbor(json("v")) + cbor(json(1));
    deep += cbor(json("t")) + cbor(json("chat"));
    deep += cbor(json("id")) + cbor(json(22));
    deep += cbor(json("x"));
    deep += std::string(1000, '\x81') + '\x00';
    seed("deep_nesting_extra_key", deep, err(DecodeError::kBadField));  // no from/text

    std::string deep_chat = "\xA6" + cbor(json("v")) + cbor(json(1)) + cbor(json("t")) +
                            cbor(json("chat")) + cbor(json("id")) + cbor(json(23)) +
                            cbor(json("from")) + cbor(json("bob")) + cbor(json("text")) +
                            cbor(json("deep")) + cbor(json("x")) + std::string(1000, '\x81') +
                            '\xF6';
    seed("deep_nesting_valid_chat", deep_chat, ok(Chat{23, "bob", "deep"}));

    // Maps nested as deep as fits.
    std::string deep_maps = "\xA1" + cbor(json("v"));
    for (int i = 0; i < 350; ++i) deep_maps += "\xA1\x61k";
    deep_maps += '\x01';
    seed("deep_nesting_maps", deep_maps, err(DecodeError::kBadVersion));

    // Duplicate keys: the parser decides; only "must not crash".
    std::string dup = encode(Heartbeat{24, "alice", 1});
    dup[0] = static_cast<char>(static_cast<unsigned char>(dup[0]) + 1);
    dup += cbor(json("nick")) + cbor(json("bob"));
    seed("hb_duplicate_key", dup, any());
  }

  // --- malformed ------------------------------------------------------------
  seed("empty", "", err(DecodeError::kMalformed));
  seed("not_a_map_array", cbor(json::array({1, "reg", "alice"})), err(DecodeError::kMalformed));
  seed("not_a_map_text", cbor(json("reg")), err(DecodeError::kMalformed));
  seed("json_text_not_cbor", R"({"v":1,"t":"ping","id":1})", err(DecodeError::kMalformed));
  {
    const std::string reg = encode(Register{1, "alice", 30000});
    seed("truncated_reg", reg.substr(0, reg.size() / 2), err(DecodeError::kMalformed));
    seed("truncated_reg_last_byte", reg.substr(0, reg.size() - 1), err(DecodeError::kMalformed));
    seed("trailing_byte_reg", reg + '\x00', err(DecodeError::kMalformed));
    const std::string save = encode(Save{3, "alice", "bob", 9, quotes1000});
    seed("truncated_save", save.substr(0, 600), err(DecodeError::kMalformed));

    std::string too_large = encode(Save{3, "alice", "bob", 9, quotes1000});
    too_large += std::string(kMaxDatagramBytes + 1 - too_large.size(), '\x00');
    seed("too_large_1201", too_large, err(DecodeError::kTooLarge));
  }
  {
    json j = as_json(Register{1, "alice", 0});
    j["v"] = 2;
    seed("bad_version_2", cbor(j), err(DecodeError::kBadVersion));
    j["v"] = 0;
    seed("bad_version_0", cbor(j), err(DecodeError::kBadVersion));
    j["v"] = "1";
    seed("bad_version_text", cbor(j), err(DecodeError::kBadVersion));
    j["v"] = 1.0;
    seed("bad_version_float", cbor(j), err(DecodeError::kBadVersion));
    j["v"] = -1;
    seed("bad_version_negative", cbor(j), err(DecodeError::kBadVersion));
    j.erase("v");
    seed("bad_version_missing", cbor(j), err(DecodeError::kBadVersion));
  }
  {
    json j = as_json(Ping{5});
    j["t"] = "pong";
    seed("unknown_type", cbor(j), err(DecodeError::kUnknownType));
    j["t"] = "";
    seed("unknown_type_empty", cbor(j), err(DecodeError::kUnknownType));
    j["t"] = 3;
    seed("unknown_type_int", cbor(j), err(DecodeError::kUnknownType));
    j.erase("t");
    seed("unknown_type_missing", cbor(j), err(DecodeError::kUnknownType));
  }
  {
    json reg = as_json(Register{1, "alice", 0});
    json j = reg;
    j.erase("nick");
    seed("reg_missing_nick", cbor(j), err(DecodeError::kBadField));
    j = reg;
    j.erase("id");
    seed("reg_missing_id", cbor(j), err(DecodeError::kBadField));
    j = reg;
    j["id"] = -5;
    seed("reg_negative_id", cbor(j), err(DecodeError::kBadField));
    j = reg;
    j["hb"] = 0x100000000ULL;
    seed("reg_hb_too_big", cbor(j), err(DecodeError::kBadField));
    j = reg;
    j["nick"] = "al ice";
    seed("reg_nick_space", cbor(j), err(DecodeError::kBadField));
    j["nick"] = "";
    seed("reg_nick_empty", cbor(j), err(DecodeError::kBadField));
    j["nick"] = nick32 + "x";
    seed("reg_nick_33", cbor(j), err(DecodeError::kBadField));
    j["nick"] = "\xC3\xA9lise";  // élise: not ASCII
    seed("reg_nick_utf8", cbor(j), err(DecodeError::kBadField));
    j["nick"] = json::array({"alice"});
    seed("reg_nick_array", cbor(j), err(DecodeError::kBadField));
    j["nick"] = json::binary({'a', 'l', 'i', 'c', 'e'});
    seed("reg_nick_bytes", cbor(j), err(DecodeError::kBadField));

    json hb = as_json(Heartbeat{6, "alice", 7});
    hb["ver"] = "7";
    seed("hb_ver_text", cbor(hb), err(DecodeError::kBadField));

    json save = as_json(Save{3, "alice", "bob", 9, "x"});
    save["text"] = std::string(1001, 'x');
    seed("save_1001_bytes", cbor(save), err(DecodeError::kBadField));
    save["text"] = std::string("\xC0\xAF");  // overlong '/'
    seed("save_utf8_overlong", cbor(save), err(DecodeError::kBadField));
    save["text"] = std::string("\xED\xA0\x80");  // surrogate U+D800
    seed("save_utf8_surrogate", cbor(save), err(DecodeError::kBadField));
    save["text"] = std::string("ab\x80") + "cd";  // lone continuation byte
    seed("save_utf8_continuation", cbor(save), err(DecodeError::kBadField));
    save["text"] = std::string("\xF4\x90\x80\x80");  // above U+10FFFF
    seed("save_utf8_above_max", cbor(save), err(DecodeError::kBadField));
    save["text"] = std::string("\xE2\x82");  // truncated sequence
    seed("save_utf8_truncated", cbor(save), err(DecodeError::kBadField));

    json chat = as_json(Chat{10, "bob", "x"});
    chat["text"] = std::string(1001, 'y');
    seed("chat_1001_bytes", cbor(chat), err(DecodeError::kBadField));
    chat["text"] = std::string("\xFF\xFE");
    seed("chat_invalid_utf8", cbor(chat), err(DecodeError::kBadField));

    json deliver = as_json(Deliver{12, "alice", 77, "x", 5});
    deliver["at"] = 1.5;
    seed("deliver_at_float", cbor(deliver), err(DecodeError::kBadField));
    deliver["at"] = -1;
    seed("deliver_at_negative", cbor(deliver), ok(Deliver{12, "alice", 77, "x", -1}));

    json ack = as_json(Ack{7, AckStatus::kOk, 0, {}});
    ack["st"] = "maybe";
    seed("ack_unknown_status", cbor(ack), err(DecodeError::kBadField));
    ack["st"] = "ok";
    ack["stored"] = "3";
    seed("ack_stored_text", cbor(ack), err(DecodeError::kBadField));

    json notice = as_json(Notice{14, NoticeKind::kDelivered, "bob", 77});
    notice["kind"] = "exploded";
    seed("notice_unknown_kind", cbor(notice), err(DecodeError::kBadField));

    json table = as_json(TablePart{18, 2, 0, 1, {{"alice", "127.0.0.1", 40001, true}}});
    json t = table;
    t["part"] = 1;
    seed("table_part_eq_parts", cbor(t), err(DecodeError::kBadField));
    t["part"] = 5;
    t["parts"] = 3;
    seed("table_part_gt_parts", cbor(t), err(DecodeError::kBadField));
    t["part"] = 0;
    t["parts"] = 0;
    seed("table_parts_zero", cbor(t), err(DecodeError::kBadField));
    t["parts"] = kMaxTableParts + 1;
    seed("table_parts_4097", cbor(t), err(DecodeError::kBadField));
    t = table;
    t["entries"][0][2] = 65536;
    seed("table_port_65536", cbor(t), err(DecodeError::kBadField));
    t = table;
    t["entries"][0] = json::array({"alice", "127.0.0.1", 40001});
    seed("table_entry_3_fields", cbor(t), err(DecodeError::kBadField));
    t = table;
    t["entries"][0][1] = "";
    seed("table_address_empty", cbor(t), err(DecodeError::kBadField));
    t = table;
    t["entries"] = json::object();
    seed("table_entries_map", cbor(t), err(DecodeError::kBadField));
  }
  {
    // Raw CBOR oddities.
    const std::string ping = encode(Ping{5});
    seed("tagged_map", "\xC0" + ping, err(DecodeError::kMalformed));  // tag 0 on the map
    // A map announcing 2^32 pairs, and a text announcing 2^63 bytes.
    seed("map_huge_count", std::string("\xBA\xFF\xFF\xFF\xFF\x61v\x01", 8),
         err(DecodeError::kMalformed));
    seed("text_huge_length", std::string("\xA1\x61v\x7B\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 12),
         err(DecodeError::kMalformed));
    seed("map_reserved_ai", std::string("\xBC", 1), err(DecodeError::kMalformed));
    seed("map_break_only", std::string("\xBF\xFF", 2), err(DecodeError::kBadVersion));
    // Text chunks of an indefinite-length string.
    seed("indefinite_text_key", std::string("\xA1\x7F\x61v\xFF\x01", 6),
         err(DecodeError::kUnknownType));
    // A tag inside the map (tags are rejected), and an array announcing
    // 2^63 items (more than a vector can hold: nlohmann throws).
    seed("tag_inside_map", std::string("\xA1\x61v\xC1\x01", 5), err(DecodeError::kMalformed));
    seed("array_huge_count", std::string("\xA1\x61v\x9B\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 12),
         err(DecodeError::kMalformed));
  }

  std::printf("make_corpus: %d seeds written to %s, %d unexpected outcome(s)\n", g_written, argv[1],
              g_failures);
  return g_failures == 0 ? 0 : 1;
}
