// redd: the dm-red per-node daemon.  See redd/README.md.
#include "config.hpp"
#include "daemon.hpp"
#include "kernel.hpp"
#include "log.hpp"

#include <exception>
#include <iostream>
#include <optional>
#include <span>

int main(int argc, char **argv) {
    using namespace redd;
    CommandLine command_line;
    try {
        command_line = parse_command_line(std::span<const char *const>(argv, argc));
        if (command_line.help) {
            std::cout << "redd: the dm-red per-node daemon (default config " << kDefaultConfigPath
                      << ")\n"
                      << command_line_help();
            return 0;
        }
    } catch (const ConfigError &e) {
        std::cerr << e.what() << "\n";
        return 2;
    }
    std::optional<Config> config;
    try {
        config.emplace(load_config(command_line));
    } catch (const ConfigError &e) {
        std::cerr << e.what() << "\n";
        return 2;
    }
    daemon::Logger log(config->log_level());
    try {
        daemon::Daemon d(*config, log);
        return d.run();
    } catch (const std::exception &e) {
        log.error(e.what());
        return 1;
    }
}
