// redctl: the dm-red command line.  See Documentation/redctl.8.
#include "cli.hpp"
#include "commands.hpp"

#include <exception>
#include <iostream>
#include <span>
#include <unistd.h>

int main(int argc, char **argv) {
    using namespace redctl;
    try {
        const auto options = parse_args(std::span<const char *const>(argv, argc));
        if (options.version) {
            std::cout << "redctl " << kVersion << " (control socket protocol 1)\n";
            return exit_code::kOk;
        }
        if (options.help) {
            std::cout << help_text(options.command);
            return exit_code::kOk;
        }
        if (::geteuid() != 0) {
            throw Failure(exit_code::kPermission,
                          "permission denied: redctl " + std::string(to_string(options.command)) +
                              " must run as root (device-mapper, zram and redd's control "
                              "socket are root-only)");
        }
        return run_command(options);
    } catch (const Failure &e) {
        std::cerr << "redctl: " << e.what() << "\n";
        return e.code();
    } catch (const std::exception &e) {
        std::cerr << "redctl: " << e.what() << "\n";
        return exit_code::kFailed;
    }
}
