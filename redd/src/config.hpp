// redd's configuration: an INI file (see redd/README.md) with command-line
// overrides, parsed into a fully validated, immutable Config.
#pragma once

#include "crypto.hpp"
#include "lease.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace redd {

// Every configuration error names where it is: FILE:LINE: MESSAGE (line 0
// when the problem is not on one line, e.g. a missing section).
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string file, int line, std::string message);

    [[nodiscard]] const std::string &file() const { return file_; }
    [[nodiscard]] int line() const { return line_; }
    [[nodiscard]] const std::string &message() const { return message_; }

private:
    std::string file_;
    int line_;
    std::string message_;
};

inline constexpr std::string_view kDefaultConfigPath = "/etc/red/red.conf";
inline constexpr std::string_view kCommandLine = "<command line>";
inline constexpr std::string_view kDefaultControlSocket = "/run/red/redd.sock";

enum class LogLevel { Error, Warn, Info, Debug };
enum class LeasePolicy { Suspend, Error };

std::string_view to_string(LogLevel level);
std::string_view to_string(LeasePolicy policy);

struct Endpoint {
    std::string host; // IPv4 literal, IPv6 literal (without brackets) or DNS name
    std::uint16_t port = 0;
    bool operator==(const Endpoint &) const = default;
};

// "host:port" or "[v6addr]:port"; std::nullopt if malformed.
std::optional<Endpoint> parse_endpoint(std::string_view text);
std::string to_string(const Endpoint &endpoint);

// "4096", "64K", "1G" (binary suffixes K, M, G, T); std::nullopt if malformed.
std::optional<std::uint64_t> parse_size(std::string_view text);

struct NodeConfig {
    std::uint32_t id = 0;
    Endpoint address;
};

struct ResourceConfig {
    std::string name;
    std::string lun;
    std::uint32_t chunk_sectors = 0;
    std::uint64_t store_bytes = 0;
    std::uint32_t writer = 0;
    LeasePolicy lease_policy = LeasePolicy::Suspend;
    // the table's stabilize_ahead <chunks>; 0: not in the table (off)
    std::uint32_t stabilize_ahead = 0;
};

// Options given on the command line.
struct CommandLine {
    std::string config_path{kDefaultConfigPath};
    bool help = false;
    // [global] key (e.g. "node_id") -> value, overriding the file.
    std::map<std::string, std::string> overrides;
};

// Parses argv (argv[0] is skipped).  Throws ConfigError.
CommandLine parse_command_line(std::span<const char *const> args);
// The --help text.
std::string command_line_help();

// Reads a key file; throws std::runtime_error with a reason.
using KeyLoader = std::function<SecretKey(const std::string &path)>;
SecretKey load_key_file(const std::string &path);

class Config;

// Parses configuration text (named `source` in errors).  Throws ConfigError.
Config parse_config(std::string_view text, const std::string &source,
                    const std::map<std::string, std::string> &overrides, const KeyLoader &load_key);
// Reads the file the command line names, and the key file.  Throws ConfigError.
Config load_config(const CommandLine &command_line);

class Config {
public:
    [[nodiscard]] std::uint32_t node_id() const { return node_id_; }
    [[nodiscard]] const Endpoint &listen() const { return listen_; }
    [[nodiscard]] const std::string &key_file() const { return key_file_; }
    [[nodiscard]] const SecretKey &key() const { return key_; }
    [[nodiscard]] Millis heartbeat() const { return heartbeat_; }
    [[nodiscard]] Millis lease() const { return lease_; }
    [[nodiscard]] Millis lease_margin() const { return lease_margin_; }
    [[nodiscard]] LogLevel log_level() const { return log_level_; }
    // The root-only control socket (Documentation/control-socket.rst).
    [[nodiscard]] const std::string &control_socket() const { return control_socket_; }
    [[nodiscard]] const std::vector<NodeConfig> &nodes() const { return nodes_; }
    [[nodiscard]] const std::vector<ResourceConfig> &resources() const { return resources_; }
    [[nodiscard]] const NodeConfig *node(std::uint32_t id) const;
    [[nodiscard]] const ResourceConfig *resource(std::string_view name) const;

private:
    friend class ConfigBuilder;
    Config() = default;

    std::uint32_t node_id_ = 0;
    Endpoint listen_;
    std::string key_file_;
    SecretKey key_;
    Millis heartbeat_{0};
    Millis lease_{0};
    Millis lease_margin_{0};
    LogLevel log_level_ = LogLevel::Info;
    std::string control_socket_{kDefaultControlSocket};
    std::vector<NodeConfig> nodes_;
    std::vector<ResourceConfig> resources_;
};

} // namespace redd
