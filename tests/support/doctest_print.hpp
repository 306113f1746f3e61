// doctest_print.hpp: lets doctest show the screens (vectors of lines) that
// a failed check compares.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

// Lets doctest print the screens it compares.
namespace doctest {
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& lines) {
    std::string out = "{";
    for (const auto& l : lines) out += "\n    \"" + l + "\"";
    return (out + "}").c_str();
  }
};
}  // namespace doctest
