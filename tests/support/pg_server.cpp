// pg_server.cpp: see pg_server.hpp.
#include "support/pg_server.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace udpchat::test {
namespace {

namespace fs = std::filesystem;

/// Debian's server binaries (postgresql-15 in Debian 12).
fs::path pg_bin() {
  for (const char* v : {"15", "16", "17", "14", "13"}) {
    const fs::path bin = fs::path("/usr/lib/postgresql") / v / "bin";
    if (fs::exists(bin / "initdb")) return bin;
  }
  throw std::runtime_error(
      "PostgreSQL's server is not installed (Debian package postgresql; ./UdpChat test "
      "installs it)");
}

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

class Server {
 public:
  Server() {
    std::string tmpl = "/tmp/udpchat-pg-" + std::string(6, 'X');  // mkdtemp's pattern
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    as_ = geteuid() == 0 ? "runuser -u postgres -- " : "";
    if (geteuid() == 0) run("chown postgres " + quoted(dir_.string()), "chown");
    const fs::path bin = pg_bin();
    run(as_ + quoted((bin / "initdb").string()) + " -D " + quoted(data()) +
            " -U postgres -A trust -E UTF8 --no-sync >" + quoted((dir_ / "initdb.log").string()) +
            " 2>&1",
        "initdb");
    ctl_ = as_ + quoted((bin / "pg_ctl").string()) + " -D " + quoted(data()) + " -l " +
           quoted(log()) + " -w -t 60 ";
    psql_ = as_ + quoted((bin / "psql").string()) + " -X -q -v ON_ERROR_STOP=1 -h " +
            quoted(dir_.string()) + " -U postgres";
    start();
  }
  ~Server() {
    std::system((ctl_ + "-m immediate stop >/dev/null 2>&1").c_str());
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start() {
    run(ctl_ + "-o " + quoted("-k " + dir_.string() + " -c listen_addresses='' -p 5432") +
            " start >/dev/null 2>&1",
        "pg_ctl start");
  }
  void restart() {
    run(ctl_ + "-m fast stop >/dev/null 2>&1", "pg_ctl stop");
    start();
  }
  bool admin(const std::string& sql, const std::string& database = "postgres") {
    return std::system(
               (psql_ + " -d " + quoted(database) + " -c " + quoted(sql) + " >/dev/null 2>&1")
                   .c_str()) == 0;
  }
  std::string fresh() {
    const std::string name = "udpchat_" + std::to_string(++databases_);
    if (!admin("CREATE DATABASE " + name)) throw std::runtime_error("CREATE DATABASE failed");
    return "host=" + dir_.string() + " port=5432 user=postgres dbname=" + name;
  }

 private:
  [[nodiscard]] std::string data() const { return (dir_ / "data").string(); }
  [[nodiscard]] std::string log() const { return (dir_ / "server.log").string(); }
  void run(const std::string& cmd, const char* what) const {
    if (std::system(cmd.c_str()) != 0) {
      std::stringstream text;
      for (const char* name : {"initdb.log", "server.log"}) {
        std::ifstream in(dir_ / name);
        if (in) text << in.rdbuf();
      }
      throw std::runtime_error(std::string("PostgreSQL for the tests: ") + what + " failed:\n" +
                               text.str());
    }
  }

  fs::path dir_;
  std::string as_;
  std::string ctl_;
  std::string psql_;
  int databases_ = 0;
};

Server& server() {
  static Server s;  // started at first use, stopped at exit
  return s;
}
std::mutex g_mutex;

}  // namespace

std::string fresh_pg_database() {
  const std::lock_guard lock(g_mutex);
  return server().fresh();
}

bool pg_admin(const std::string& sql, const std::string& database) {
  const std::lock_guard lock(g_mutex);
  return server().admin(sql, database);
}

void restart_pg() {
  const std::lock_guard lock(g_mutex);
  server().restart();
}

}  // namespace udpchat::test
