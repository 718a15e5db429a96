#include "cli.hpp"

#include <array>
#include <charconv>
#include <sstream>

namespace redctl {
namespace {

struct CommandSpec {
    Command command;
    std::string_view name;
    std::string_view synopsis;
    bool takes_resource;    // a RESOURCE argument is allowed
    bool requires_resource; // ... and required
    bool json;              // --json applies
    bool force;             // --force applies
    bool timeout;           // --timeout applies
    bool hooks;             // --pre-hook, --post-hook apply
    std::string_view help;
};

constexpr std::array kCommands = {
    CommandSpec{Command::Up, "up", "up [--force] RESOURCE", true, true, false, true, false, false,
                "Brings RESOURCE up on this node.  The role comes from the LUN's epoch\n"
                "record (the writer it names, even if it resigned), or from the\n"
                "configuration's `writer` when the LUN has no record yet; an unreadable\n"
                "metadata area or a damaged record refuses the up.  A copier gets an\n"
                "exception store (a zram device); then the device-mapper table is loaded\n"
                "(device name = RESOURCE, ending 1 MiB before the end of the LUN) and\n"
                "redd is told.  Any failure undoes what was done.\n"
                "  --force  over a damaged record: the configuration decides, and on the\n"
                "           writer a new record is written over it (two writers if the\n"
                "           damaged record named another, live one: redctl(8))\n"},
    CommandSpec{Command::Down, "down", "down [--force] RESOURCE", true, true, false, true, false,
                false,
                "Takes RESOURCE down on this node: tells redd (a copier leaves the\n"
                "membership), removes the device (refused while it is open), and resets and\n"
                "removes its zram exception store.\n"
                "  --force  tell redd to let a writer go with copiers joined; and go on\n"
                "           (with a warning) when redd is not running\n"},
    CommandSpec{Command::Status, "status", "status [--json] [RESOURCE]", true, false, true, false,
                false, false,
                "Shows every configured resource (or RESOURCE): redd's view (writer,\n"
                "the LUN's epoch record, membership, leases, promotion, statistics)\n"
                "merged with the kernel's device status.  Without redd, shows the\n"
                "kernel's view and the LUN's record with a warning.\n"
                "  --json  print one JSON document\n"},
    CommandSpec{Command::Events, "events", "events [--json]", false, false, true, false, false,
                false,
                "Prints the state of every resource, then one line per event as redd\n"
                "reports it, until interrupted or redd goes away.\n"
                "  --json  print redd's JSON lines unchanged\n"},
    CommandSpec{Command::Gc, "gc",
                "gc [--pre-hook CMD] [--post-hook CMD] [--timeout SECONDS] RESOURCE", true, true,
                false, false, true, true,
                "Drops a copier's exception store.  Runs the pre-hook (stop the database,\n"
                "unmount), checks that the device is closed, sends the gc message, waits\n"
                "until the copier is active again at a newer epoch, runs the post-hook\n"
                "(mount, start the database), and reports each phase's time and the\n"
                "memory freed.  A failing pre-hook changes nothing.\n"
                "  --pre-hook CMD     run by /bin/sh -c before the gc (RED_PHASE=pre)\n"
                "  --post-hook CMD    run by /bin/sh -c after the rejoin (RED_PHASE=post)\n"
                "                     (both get RED_RESOURCE and RED_DEVICE)\n"
                "  --timeout SECONDS  how long to wait for the rejoin (default 60)\n"},
    CommandSpec{Command::Promote, "promote", "promote [--force] [--timeout SECONDS] RESOURCE", true,
                true, false, true, true, false,
                "Makes this node's copier the writer of RESOURCE.  redd refuses while the\n"
                "old writer may be alive (its reason is printed, exit 12).  Once accepted,\n"
                "prints the new epoch, the copiers and the fencing wait, then follows the\n"
                "promotion until the device is an active writer (its store written back).\n"
                "Asked while a promotion runs here, says so and follows that one.\n"
                "  --force            promote although the old writer may be alive: two\n"
                "                     writers for up to one lease period, data loss (redctl(8))\n"
                "  --timeout SECONDS  how long to follow it without progress, the fencing\n"
                "                     wait not counted (default 300; it goes on after)\n"},
    CommandSpec{Command::Demote, "demote", "demote [--force] RESOURCE", true, true, false, true,
                false, false,
                "Makes this node's writer resign: refused while the device is open.  redd\n"
                "records on the LUN that the writer resigned and ends its write lease; the\n"
                "device is then removed.  `redctl up` brings it back later (as the writer\n"
                "again, or as a copier after a promotion elsewhere).\n"
                "  --force  demote although copiers are joined (they lose their writer)\n"},
};

const CommandSpec *find_command(std::string_view name) {
    for (const auto &spec : kCommands) {
        if (spec.name == name) {
            return &spec;
        }
    }
    return nullptr;
}

const CommandSpec &spec_of(Command command) {
    for (const auto &spec : kCommands) {
        if (spec.command == command) {
            return spec;
        }
    }
    throw std::logic_error("no spec for command");
}

[[noreturn]] void usage(const std::string &message) {
    throw Failure(exit_code::kUsage, message + " (see redctl --help)");
}

std::chrono::seconds parse_timeout(std::string_view text) {
    unsigned value = 0;
    const auto *const end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < 1 || value > 86400) {
        usage("--timeout: expected whole seconds from 1 to 86400, got '" + std::string(text) + "'");
    }
    return std::chrono::seconds(value);
}

} // namespace

std::string_view to_string(Command command) {
    return command == Command::None ? "" : spec_of(command).name;
}

Options parse_args(std::span<const char *const> args) {
    Options opts;
    std::vector<std::string> positional;
    bool seen_json = false;
    bool seen_force = false;
    bool seen_timeout = false;
    bool seen_hook = false;
    bool only_positional = false;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        if (only_positional || arg.empty() || arg[0] != '-' || arg == "-") {
            positional.emplace_back(arg);
            continue;
        }
        if (arg == "--") {
            only_positional = true;
            continue;
        }
        std::string name(arg);
        std::optional<std::string> inline_value;
        if (arg.starts_with("--")) {
            if (auto eq = arg.find('='); eq != std::string_view::npos) {
                name = arg.substr(0, eq);
                inline_value = std::string(arg.substr(eq + 1));
            }
        }
        auto value = [&]() -> std::string {
            if (inline_value) {
                return *inline_value;
            }
            if (i + 1 >= args.size()) {
                usage(name + " needs a value");
            }
            return args[++i];
        };
        auto flag = [&]() {
            if (inline_value) {
                usage(name + " takes no value");
            }
        };
        if (name == "-c" || name == "--config") {
            opts.config_path = value();
            if (opts.config_path.empty()) {
                usage(name + " needs a file name");
            }
        } else if (name == "--control-socket") {
            opts.control_socket = value();
            if (opts.control_socket->empty()) {
                usage(name + " needs a path");
            }
        } else if (name == "--json") {
            flag();
            opts.json = seen_json = true;
        } else if (name == "--force") {
            flag();
            opts.force = seen_force = true;
        } else if (name == "--timeout") {
            opts.timeout = parse_timeout(value());
            seen_timeout = true;
        } else if (name == "--pre-hook" || name == "--post-hook") {
            auto command = value();
            if (command.empty()) {
                usage(name + " needs a command");
            }
            (name == "--pre-hook" ? opts.pre_hook : opts.post_hook) = std::move(command);
            seen_hook = true;
        } else if (name == "-h" || name == "--help") {
            flag();
            opts.help = true;
        } else if (name == "-V" || name == "--version") {
            flag();
            opts.version = true;
        } else {
            usage("unknown option '" + name + "'");
        }
    }

    if (positional.empty()) {
        if (opts.help || opts.version) {
            return opts;
        }
        usage("no command given");
    }
    const CommandSpec *spec = find_command(positional.front());
    if (spec == nullptr) {
        usage("unknown command '" + positional.front() + "'");
    }
    opts.command = spec->command;
    if (opts.help || opts.version) {
        return opts;
    }
    const std::string cmd(spec->name);
    if (seen_json && !spec->json) {
        usage("--json does not apply to " + cmd);
    }
    if (seen_force && !spec->force) {
        usage("--force does not apply to " + cmd);
    }
    if (seen_timeout && !spec->timeout) {
        usage("--timeout does not apply to " + cmd);
    }
    if (seen_hook && !spec->hooks) {
        usage(std::string(opts.pre_hook ? "--pre-hook" : "--post-hook") + " does not apply to " +
              cmd);
    }
    if (positional.size() > 2 || (positional.size() == 2 && !spec->takes_resource)) {
        usage(cmd + ": unexpected argument '" + positional.back() + "'");
    }
    if (positional.size() == 2) {
        opts.resource = positional[1];
    } else if (spec->requires_resource) {
        usage(cmd + " needs a RESOURCE");
    }
    return opts;
}

std::string help_text(Command command) {
    std::ostringstream out;
    if (command != Command::None) {
        const auto &spec = spec_of(command);
        out << "Usage: redctl [-c FILE] [--control-socket PATH] " << spec.synopsis << "\n\n"
            << spec.help;
        out << "  -c, --config FILE        configuration file (default " << redd::kDefaultConfigPath
            << ")\n"
            << "  --control-socket PATH    redd's control socket (default: the configuration's)\n";
        return out.str();
    }
    out << "Usage: redctl [OPTIONS] COMMAND [ARGS]\n"
        << "The dm-red command line: brings resources up and down on this node, shows\n"
        << "their state, follows redd's events, collects a copier's store, promotes a\n"
        << "copier and demotes a writer.\n\n"
        << "Commands:\n";
    for (const auto &spec : kCommands) {
        out << "  " << spec.synopsis << "\n";
    }
    out << "\nOptions:\n"
        << "  -c, --config FILE        configuration file (default " << redd::kDefaultConfigPath
        << ")\n"
        << "  --control-socket PATH    redd's control socket (default: [global] control_socket)\n"
        << "  -h, --help               this text; `redctl COMMAND --help` for a command\n"
        << "  -V, --version            print the version\n\n"
        << "Exit status: 0 success, 1 failed, 2 usage, 3 configuration or unknown resource,\n"
        << "4 not root, 5 redd not running, 6 already up, 7 not up, 8 device open,\n"
        << "9 wrong role, 10 LUN missing or unusable, 11 timed out, 12 redd refused\n"
        << "promote or demote, 13 gc hook failed.\n";
    return out.str();
}

} // namespace redctl
