// temp_dir.hpp: a fresh temporary directory for one test.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace udpchat::test {

// A fresh directory under the system temporary directory, removed (with
// everything in it) when the object goes away.
class TempDir {
 public:
  TempDir() {
    namespace fs = std::filesystem;
    static std::mt19937_64 rng(std::random_device{}());
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("udpchat-unit-" + std::to_string(rng()) + "-" + std::to_string(++counter));
    REQUIRE_FALSE(fs::exists(path_));
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace udpchat::test
