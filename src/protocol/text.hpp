// text.hpp: validation of the strings users type and datagrams carry.
//
// Pure functions, no allocation beyond their results. manual §7.
#pragma once

#include <string>
#include <string_view>

namespace udpchat {

/// True if `s` is well-formed UTF-8 (RFC 3629): no overlong forms, no
/// surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
/// sequence.
[[nodiscard]] bool is_valid_utf8(std::string_view s) noexcept;

/// True if `nick` is 1 to kMaxNicknameLength characters of [A-Za-z0-9_.-].
/// Group names follow the same rule (groups, to come).
[[nodiscard]] bool is_valid_nickname(std::string_view nick) noexcept;

/// The case-folded key of a valid nickname (ASCII lower case): two nicknames
/// with equal keys are the same nickname (manual §7: unique without regard to
/// case).
[[nodiscard]] std::string nickname_key(std::string_view nick);

/// Why a message text may not be sent, as the one line the client prints
/// (without the ">>> " prefix), or an empty string when it may be sent:
/// "[Message too long: <n> bytes (max 1000).]" or
/// "[Message is not valid UTF-8.]".
[[nodiscard]] std::string message_text_problem(std::string_view text);

/// `text` with every C0 and C1 control character, DEL, and bidirectional
/// embedding/override/isolate (U+202A..U+202E, U+2066..U+2069) replaced by
/// U+FFFD, so a hostile peer cannot move the cursor, forge lines or reorder
/// what the terminal shows. Other UTF-8 passes unchanged.
[[nodiscard]] std::string printable(std::string_view text);

}  // namespace udpchat
