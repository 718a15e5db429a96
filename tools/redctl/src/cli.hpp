// redctl's command line: subcommands, options and exit codes (pure logic, no
// system calls).  See Documentation/redctl.8.
#pragma once

#include "config.hpp"

#include <chrono>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace redctl {

inline constexpr std::string_view kVersion = "0.1.0";
inline constexpr std::chrono::seconds kGcTimeout{60};
inline constexpr std::chrono::seconds kPromoteTimeout{300};

// Exit codes, documented in redctl.8 (EXIT STATUS) and in `redctl --help`.
namespace exit_code {
inline constexpr int kOk = 0;
inline constexpr int kFailed = 1;     // device-mapper, zram, or redd refused
inline constexpr int kUsage = 2;      // bad command line
inline constexpr int kConfig = 3;     // bad configuration file, unknown resource
inline constexpr int kPermission = 4; // not root
inline constexpr int kReddDown = 5;   // redd not running (control socket unreachable)
inline constexpr int kExists = 6;     // up: the device already exists
inline constexpr int kNotUp = 7;      // down, gc, demote: no such device
inline constexpr int kBusy = 8;       // down, gc, demote: the device is open
inline constexpr int kWrongRole = 9;  // gc on a writer, demote on a copier
inline constexpr int kNoLun = 10;     // up: the LUN (or its metadata area) is unusable
inline constexpr int kTimeout = 11;   // gc, promote: not done in time; redd did not answer
inline constexpr int kRefused = 12;   // promote, demote: redd refused (its reason is printed)
inline constexpr int kHook = 13;      // gc: the pre-hook or the post-hook failed
} // namespace exit_code

// A failure with the exit code it maps to; main() prints "redctl: WHAT".
class Failure : public std::runtime_error {
public:
    Failure(int code, const std::string &what) : std::runtime_error(what), code_(code) {}
    [[nodiscard]] int code() const { return code_; }

private:
    int code_;
};

enum class Command { None, Up, Down, Status, Events, Gc, Promote, Demote };

std::string_view to_string(Command command);

struct Options {
    Command command = Command::None;
    std::string config_path{redd::kDefaultConfigPath};
    std::optional<std::string> control_socket; // --control-socket; else the config's
    std::optional<std::string> resource;
    bool json = false;  // status, events
    bool force = false; // down, promote, demote
    // gc: wait for the rejoin; promote: for the end of the write-back.
    // nullopt: the command's default (kGcTimeout, kPromoteTimeout).
    std::optional<std::chrono::seconds> timeout;
    std::optional<std::string> pre_hook;  // gc
    std::optional<std::string> post_hook; // gc
    bool help = false;                    // --help (of the command, if one is given)
    bool version = false;                 // --version
};

// Parses argv (argv[0] is skipped).  Options may come before or after the
// command; "--opt=value" and "--opt value" are both accepted; "--" ends the
// options.  Throws Failure(kUsage) with a message naming the problem.
Options parse_args(std::span<const char *const> args);

// The --help text: the general one for Command::None, else the command's.
std::string help_text(Command command);

} // namespace redctl
