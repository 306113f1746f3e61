// pg_server.hpp: a throw-away PostgreSQL for tests of the PostgreSQL store:
// initdb in a fresh temporary directory, started with pg_ctl on a Unix
// socket in that directory only (listen_addresses='': no TCP port to
// clash with), stopped and removed when the process ends. initdb refuses
// to run as root: as root, the server's commands run as the `postgres`
// user of Debian's postgresql package (runuser). No containers.
#pragma once

#include <string>

namespace udpchat::test {

/// The connection string of a new, empty database of the test process's
/// PostgreSQL ("host=<dir> port=5432 user=postgres dbname=udpchat_<n>"),
/// starting the server at the first call. Throws std::runtime_error (with
/// the server's log) if PostgreSQL cannot be started: the tests of the
/// PostgreSQL store fail then, they are never skipped.
std::string fresh_pg_database();

/// Runs `sql` as the superuser (psql) on `database` (default: the
/// maintenance database); true on success. For tests that act on the server
/// itself (terminating sessions) or behind a store's back.
bool pg_admin(const std::string& sql, const std::string& database = "postgres");

/// Stops the server (fast shutdown) and starts it again on the same data:
/// every connection is cut, nothing committed is lost.
void restart_pg();

}  // namespace udpchat::test
