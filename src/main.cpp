// main.cpp: picks the mode from the command line (manual §3) and hands the
// checked options to the asio shells. Usage errors name the argument and
// the rule it broke, and exit with status 2.
#include <iostream>

#include "app/options.hpp"

#ifndef UDPCHAT_VERSION
#define UDPCHAT_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace udpchat;
  try {
    const Invocation inv = parse_invocation(argc, argv);
    switch (inv.mode) {
      case Invocation::Mode::kHelp:
        std::cout << help_text(UDPCHAT_VERSION);
        return 0;
      case Invocation::Mode::kVersion:
        std::cout << "udpchat " << UDPCHAT_VERSION << "\n";
        return 0;
      case Invocation::Mode::kServer:
        return run_server(inv.server);
      case Invocation::Mode::kClient:
        return run_client(inv.client);
    }
  } catch (const UsageError& e) {
    std::cerr << "udpchat: " << e.message << "\nUsage:\n"
              << synopsis() << "Try 'udpchat --help' for the options.\n";
  }
  return 2;
}
