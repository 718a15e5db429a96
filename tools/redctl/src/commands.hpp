// redctl's subcommands (up, down, status, events, gc).
#pragma once

#include "cli.hpp"

namespace redctl {

// Runs the command `options` names; returns the exit code.  Throws Failure.
int run_command(const Options &options);

} // namespace redctl
