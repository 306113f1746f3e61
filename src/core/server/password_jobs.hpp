// password_jobs.hpp: Argon2id work handed out of the server's event loop.
//
// An Argon2id hash or check costs about 0.1 s of CPU and 64 MiB (libsodium's
// interactive cost): run on the event loop it would stall every client for
// that long. Like the store commands (store_ops.hpp), ServerCore hands the
// work out as values (`take_password_jobs`) and is told the outcome
// (`on_password_done`); the shell runs jobs on a worker thread
// (src/app/job_worker.hpp), tests and the simulation run them inline
// at the least cost libsodium allows.
#pragma once

#include <cstdint>
#include <string>

#include "crypto/password.hpp"

namespace udpchat {

/// One piece of password work: hash `password` (kHash), or check it against
/// the encoded hash `encoded` (kVerify). `ticket` numbers jobs 1, 2, 3...
struct PasswordJob {
  enum class Kind : std::uint8_t { kHash, kVerify };
  std::uint64_t ticket = 0;
  Kind kind = Kind::kHash;
  std::string password;
  std::string encoded{};
};

/// A job's outcome: `ok` (hashed, or the password matched) and, for kHash,
/// the encoded hash. A hash fails only when the memory could not be had.
struct PasswordOutcome {
  std::uint64_t ticket = 0;
  bool ok = false;
  std::string encoded{};
};

/// Runs `job` at `cost` (blocking: on a worker thread, or inline in tests).
[[nodiscard]] inline PasswordOutcome run_password_job(const PasswordJob& job,
                                                      crypto::PasswordCost cost) {
  if (job.kind == PasswordJob::Kind::kVerify) {
    return {job.ticket, crypto::verify_password(job.encoded, job.password), {}};
  }
  auto hash = crypto::hash_password(job.password, cost);
  if (!hash) return {job.ticket, false, {}};
  return {job.ticket, true, std::move(*hash)};
}

}  // namespace udpchat
