#include "config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <utility>

#include <arpa/inet.h>
#include <boost/program_options.hpp>
#include <netinet/in.h>

namespace po = boost::program_options;

namespace redd {

namespace {

constexpr std::size_t kMaxConfigSize = std::size_t{1024} * 1024;
constexpr std::size_t kMaxLineLength = 4096;
constexpr std::size_t kMinKeySize = 16;
constexpr std::size_t kMaxKeySize = 4096;
constexpr std::uint64_t kMinChunkSectors = 8;
constexpr std::uint64_t kMaxChunkSectors = 2048;
// the kernel's bound (dm-red: RED_MAX_AHEAD_CHUNKS)
constexpr std::uint64_t kMaxStabilizeAhead = 1024;
constexpr std::uint64_t kSectorSize = 512;
constexpr std::uint64_t kMinHeartbeatMs = 10;
constexpr std::uint64_t kMaxLeaseMs = 600000;
constexpr std::uint64_t kMinLeaseMarginMs = 100;
// sizeof(sockaddr_un::sun_path) is 108 on Linux, with a terminating NUL.
constexpr std::size_t kMaxSocketPath = 107;

enum class SectionKind { Global, Node, Resource };

struct KeySpec {
    std::string_view key;
    std::string_view cli; // command-line override name, empty if none
    bool required;
    std::string_view help;
};

constexpr std::array kGlobalKeys = {
    KeySpec{"node_id", "node-id", true, "this node's id (one of the [node.N] sections)"},
    KeySpec{"listen", "listen", false, "address:port to listen on (default: this node's address)"},
    KeySpec{"key_file", "key-file", true, "file holding the shared secret key"},
    KeySpec{"heartbeat_ms", "heartbeat-ms", false, "lease request interval in ms (default 500)"},
    KeySpec{"lease_ms", "lease-ms", false, "read lease in ms, > 2 * heartbeat_ms (default 3000)"},
    KeySpec{"lease_margin_ms", "lease-margin-ms", false,
            "writer-side lease safety margin in ms (default max(lease_ms/10, 100))"},
    KeySpec{"log_level", "log-level", false, "error, warn, info or debug (default info)"},
    KeySpec{"control_socket", "control-socket", false,
            "root-only control socket for redctl (default /run/red/redd.sock)"},
};

constexpr std::array kNodeKeys = {
    KeySpec{"address", "", true, "address:port of the node's redd"},
};

constexpr std::array kResourceKeys = {
    KeySpec{"lun", "", true, "path of the shared LUN"},
    KeySpec{"chunk_sectors", "", false, "chunk size in 512-byte sectors (default 128)"},
    KeySpec{"store_size", "", true, "exception store size, e.g. 1G"},
    KeySpec{"writer", "", true, "node id of the initial writer"},
    KeySpec{"lease_policy", "", false,
            "when a lease runs out the device holds its I/O (suspend) or fails it (error); "
            "default suspend"},
    KeySpec{"stabilize_ahead", "", false,
            "chunks a writer asks to stabilize past a sequential stream of first writes, "
            "0 to 1024 (default 0: off)"},
};

std::span<const KeySpec> keys_of(SectionKind kind) {
    switch (kind) {
    case SectionKind::Global:
        return kGlobalKeys;
    case SectionKind::Node:
        return kNodeKeys;
    case SectionKind::Resource:
        return kResourceKeys;
    }
    return {};
}

const KeySpec *find_key(SectionKind kind, std::string_view key) {
    for (const auto &spec : keys_of(kind)) {
        if (spec.key == key) {
            return &spec;
        }
    }
    return nullptr;
}

std::string_view trim(std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = s.find_last_not_of(" \t");
    return s.substr(first, last - first + 1);
}

std::string quote(std::string_view s) {
    return "'" + std::string(s) + "'";
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
    if (text.empty() || text.size() > 20) {
        return std::nullopt;
    }
    std::uint64_t v = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
            return std::nullopt;
        }
        v = v * 10 + digit;
    }
    return v;
}

std::optional<std::uint32_t> parse_node_id(std::string_view text) {
    auto v = parse_u64(text);
    if (!v || *v == 0 || *v > std::numeric_limits<std::uint32_t>::max()) {
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(*v);
}

bool valid_hostname(std::string_view host) {
    if (host.empty() || host.size() > 253) {
        return false;
    }
    std::size_t label = 0;
    char prev = '.';
    for (const char c : host) {
        if (c == '.') {
            if (label == 0 || prev == '-') {
                return false;
            }
            label = 0;
        } else {
            const bool alnum =
                (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (!(alnum || (c == '-' && label > 0)) || ++label > 63) {
                return false;
            }
        }
        prev = c;
    }
    return prev != '-' && prev != '.';
}

bool all_digits_and_dots(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

// One "key = value" line of the file.
struct Entry {
    std::string value;
    int line = 0;
};

struct Section {
    SectionKind kind = SectionKind::Global;
    std::string name; // full name, e.g. "node.2"
    std::string id;   // the part after the dot
    int line = 0;
    std::map<std::string, Entry> entries;
};

// Where a value came from, for error messages.
struct Origin {
    std::string file;
    int line = 0;
    std::string what; // "node_id" or "--node-id"
};

} // namespace

// Builds a Config from the pre-scanned file, Boost's parse and the overrides.
class ConfigBuilder {
public:
    ConfigBuilder(std::string source, const std::map<std::string, std::string> &overrides,
                  const KeyLoader &load_key)
        : source_(std::move(source)), overrides_(overrides), load_key_(load_key) {}

    Config build(std::string_view text);

private:
    [[noreturn]] void fail(int line, const std::string &message) const {
        throw ConfigError(source_, line, message);
    }
    [[noreturn]] static void fail_at(const Origin &origin, const std::string &message) {
        throw ConfigError(origin.file, origin.line, origin.what + ": " + message);
    }

    void prescan(std::string_view text);
    void scan_line(std::string_view raw, int line);
    void open_section(std::string_view name, int line);
    std::string normalized() const;
    void run_boost(const std::string &normalized_text);
    void check_required();

    // A value with its origin: the override for global keys, else the file.
    std::optional<std::pair<std::string, Origin>> value(const Section &section,
                                                        std::string_view key) const;
    std::uint64_t number(const Section &section, std::string_view key, std::uint64_t fallback,
                         std::uint64_t min, std::uint64_t max) const;

    void build_nodes(Config &config);
    void build_global(Config &config);
    void build_resources(Config &config);

    std::string source_;
    const std::map<std::string, std::string> &overrides_;
    const KeyLoader &load_key_;
    std::vector<Section> sections_;
    po::variables_map vm_;
};

void ConfigBuilder::prescan(std::string_view text) {
    if (text.size() > kMaxConfigSize) {
        fail(0, "file is larger than " + std::to_string(kMaxConfigSize) + " bytes");
    }
    int line = 0;
    while (!text.empty()) {
        ++line;
        const auto nl = text.find('\n');
        std::string_view raw = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (!raw.empty() && raw.back() == '\r') {
            raw.remove_suffix(1);
        }
        scan_line(raw, line);
    }
}

void ConfigBuilder::scan_line(std::string_view raw, int line) {
    if (raw.size() > kMaxLineLength) {
        fail(line, "line longer than " + std::to_string(kMaxLineLength) + " characters");
    }
    for (const char c : raw) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) {
            fail(line, "control character in line");
        }
    }
    std::string_view s = raw.substr(0, raw.find('#'));
    s = trim(s);
    if (s.empty()) {
        return;
    }
    if (s.front() == '[') {
        if (s.back() != ']' || s.size() < 2) {
            fail(line, "syntax error: section header must be '[name]'");
        }
        open_section(s.substr(1, s.size() - 2), line);
        return;
    }
    const auto eq = s.find('=');
    if (eq == std::string_view::npos) {
        fail(line, "syntax error: expected 'key = value' or '[section]'");
    }
    const std::string key(trim(s.substr(0, eq)));
    const std::string val(trim(s.substr(eq + 1)));
    if (key.empty()) {
        fail(line, "syntax error: missing key before '='");
    }
    if (sections_.empty()) {
        fail(line, "key " + quote(key) + " outside of any section");
    }
    Section &section = sections_.back();
    if (find_key(section.kind, key) == nullptr) {
        fail(line, "unknown key " + quote(key) + " in [" + section.name + "]");
    }
    if (val.empty()) {
        fail(line, key + ": empty value");
    }
    auto [it, inserted] = section.entries.try_emplace(key, Entry{val, line});
    if (!inserted) {
        fail(line, "duplicate key " + quote(key) + " in [" + section.name +
                       "] (first set at line " + std::to_string(it->second.line) + ")");
    }
}

void ConfigBuilder::open_section(std::string_view name, int line) {
    Section section;
    section.name = std::string(name);
    section.line = line;
    const auto dot = name.find('.');
    const std::string_view head = name.substr(0, dot);
    const std::string_view id =
        dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
    if (name == "global") {
        section.kind = SectionKind::Global;
    } else if (head == "node" && dot != std::string_view::npos) {
        if (!parse_node_id(id)) {
            fail(line, "[" + section.name + "]: node id must be an integer from 1 to 4294967295");
        }
        section.kind = SectionKind::Node;
        // Canonical form, so [node.01] and [node.1] are the same node.
        section.id = std::to_string(*parse_node_id(id));
    } else if (head == "resource" && dot != std::string_view::npos) {
        if (!valid_resource_name(id)) {
            fail(line, "[" + section.name +
                           "]: resource name must be 1 to 63 characters of [A-Za-z0-9_.-]");
        }
        section.kind = SectionKind::Resource;
        section.id = std::string(id);
    } else {
        fail(line, "unknown section [" + section.name +
                       "] (expected [global], [node.N] or [resource.NAME])");
    }
    for (const auto &other : sections_) {
        if (other.kind == section.kind && other.id == section.id) {
            fail(line, "duplicate section [" + section.name + "] (first at line " +
                           std::to_string(other.line) + ")");
        }
    }
    sections_.push_back(std::move(section));
}

std::string ConfigBuilder::normalized() const {
    std::string out;
    for (const auto &section : sections_) {
        out += "[" + section.name + "]\n";
        for (const auto &[key, entry] : section.entries) {
            out += key + "=" + entry.value + "\n";
        }
    }
    return out;
}

void ConfigBuilder::run_boost(const std::string &normalized_text) {
    po::options_description desc;
    for (const auto &section : sections_) {
        for (const auto &spec : keys_of(section.kind)) {
            desc.add_options()((section.name + "." + std::string(spec.key)).c_str(),
                               po::value<std::string>(), std::string(spec.help).c_str());
        }
    }
    std::istringstream in(normalized_text);
    try {
        po::store(po::parse_config_file(in, desc, false), vm_);
        po::notify(vm_);
    } catch (const po::error_with_option_name &e) {
        // Map the option back to its line.
        const std::string option = e.get_option_name();
        for (const auto &section : sections_) {
            for (const auto &[key, entry] : section.entries) {
                if (option == section.name + "." + key) {
                    fail(entry.line, e.what());
                }
            }
        }
        fail(0, e.what());
    } catch (const po::error &e) {
        fail(0, e.what());
    }
}

void ConfigBuilder::check_required() {
    for (const auto &section : sections_) {
        for (const auto &spec : keys_of(section.kind)) {
            const bool overridden =
                section.kind == SectionKind::Global && overrides_.contains(std::string(spec.key));
            if (spec.required && !overridden && !section.entries.contains(std::string(spec.key))) {
                fail(section.line,
                     "[" + section.name + "]: missing required key " + quote(spec.key));
            }
        }
    }
}

std::optional<std::pair<std::string, Origin>> ConfigBuilder::value(const Section &section,
                                                                   std::string_view key) const {
    if (section.kind == SectionKind::Global) {
        if (auto it = overrides_.find(std::string(key)); it != overrides_.end()) {
            const KeySpec *spec = find_key(SectionKind::Global, key);
            const std::string cli = spec != nullptr ? std::string(spec->cli) : std::string(key);
            return std::pair{it->second, Origin{std::string(kCommandLine), 0, "--" + cli}};
        }
    }
    const std::string option = section.name + "." + std::string(key);
    if (!vm_.contains(option)) {
        return std::nullopt;
    }
    const auto &entry = section.entries.at(std::string(key));
    return std::pair{vm_[option].as<std::string>(), Origin{source_, entry.line, std::string(key)}};
}

std::uint64_t ConfigBuilder::number(const Section &section, std::string_view key,
                                    std::uint64_t fallback, std::uint64_t min,
                                    std::uint64_t max) const {
    auto v = value(section, key);
    if (!v) {
        return fallback;
    }
    auto n = parse_u64(v->first);
    if (!n || *n < min || *n > max) {
        fail_at(v->second, "expected an integer from " + std::to_string(min) + " to " +
                               std::to_string(max) + ", got " + quote(v->first));
    }
    return *n;
}

void ConfigBuilder::build_nodes(Config &config) {
    for (const auto &section : sections_) {
        if (section.kind != SectionKind::Node) {
            continue;
        }
        auto addr = value(section, "address");
        auto endpoint = parse_endpoint(addr->first);
        if (!endpoint) {
            fail_at(addr->second, "expected host:port or [ipv6]:port with a port from 1 to "
                                  "65535, got " +
                                      quote(addr->first));
        }
        for (const auto &other : config.nodes_) {
            if (other.address == *endpoint) {
                fail_at(addr->second, quote(addr->first) + " is also the address of node " +
                                          std::to_string(other.id));
            }
        }
        config.nodes_.push_back(NodeConfig{*parse_node_id(section.id), *endpoint});
    }
    if (config.nodes_.empty()) {
        fail(0, "no [node.N] sections: at least one node is needed");
    }
}

void ConfigBuilder::build_global(Config &config) {
    const auto global = std::find_if(sections_.begin(), sections_.end(), [](const Section &s) {
        return s.kind == SectionKind::Global;
    });
    if (global == sections_.end()) {
        fail(0, "missing [global] section");
    }
    const Section &g = *global;

    auto node_id = value(g, "node_id");
    auto id = parse_node_id(node_id->first);
    if (!id) {
        fail_at(node_id->second,
                "expected an integer from 1 to 4294967295, got " + quote(node_id->first));
    }
    if (config.node(*id) == nullptr) {
        fail_at(node_id->second, "node " + std::to_string(*id) + " has no [node." +
                                     std::to_string(*id) + "] section");
    }
    config.node_id_ = *id;

    if (auto listen = value(g, "listen")) {
        auto endpoint = parse_endpoint(listen->first);
        if (!endpoint) {
            fail_at(listen->second, "expected host:port or [ipv6]:port with a port from 1 to "
                                    "65535, got " +
                                        quote(listen->first));
        }
        config.listen_ = *endpoint;
    } else {
        config.listen_ = config.node(*id)->address;
    }

    const auto heartbeat = number(g, "heartbeat_ms", 500, kMinHeartbeatMs, kMaxLeaseMs);
    const auto lease = number(g, "lease_ms", 3000, 1, kMaxLeaseMs);
    if (lease <= 2 * heartbeat) {
        auto where = value(g, "lease_ms");
        if (!where) {
            where = value(g, "heartbeat_ms");
        }
        fail_at(where->second, "lease_ms (" + std::to_string(lease) +
                                   ") must be more than twice heartbeat_ms (" +
                                   std::to_string(heartbeat) + ")");
    }
    const auto margin =
        number(g, "lease_margin_ms", std::max(lease / 10, kMinLeaseMarginMs), 0, lease);
    config.heartbeat_ = Millis{heartbeat};
    config.lease_ = Millis{lease};
    config.lease_margin_ = Millis{margin};

    if (auto level = value(g, "log_level")) {
        static constexpr std::array kLevels = {LogLevel::Error, LogLevel::Warn, LogLevel::Info,
                                               LogLevel::Debug};
        const auto *const it = std::find_if(kLevels.begin(), kLevels.end(), [&](LogLevel l) {
            return to_string(l) == level->first;
        });
        if (it == kLevels.end()) {
            fail_at(level->second,
                    "expected error, warn, info or debug, got " + quote(level->first));
        }
        config.log_level_ = *it;
    }

    if (auto socket = value(g, "control_socket")) {
        const std::string &path = socket->first;
        if (path.front() != '/') {
            fail_at(socket->second, "expected an absolute path, got " + quote(path));
        }
        if (path.back() == '/') {
            fail_at(socket->second,
                    "expected the path of a socket, not of a directory, got " + quote(path));
        }
        if (std::any_of(path.begin(), path.end(),
                        [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
            fail_at(socket->second, "control character in the path");
        }
        if (path.size() > kMaxSocketPath) {
            fail_at(socket->second, "longer than " + std::to_string(kMaxSocketPath) +
                                        " bytes (a Unix socket path must fit sun_path)");
        }
        config.control_socket_ = path;
    }

    auto key_file = value(g, "key_file");
    config.key_file_ = key_file->first;
    try {
        config.key_ = load_key_(config.key_file_);
    } catch (const std::exception &e) {
        fail_at(key_file->second, e.what());
    }
}

void ConfigBuilder::build_resources(Config &config) {
    for (const auto &section : sections_) {
        if (section.kind != SectionKind::Resource) {
            continue;
        }
        ResourceConfig r;
        r.name = section.id;

        auto lun = value(section, "lun");
        if (lun->first.front() != '/') {
            fail_at(lun->second, "expected an absolute path, got " + quote(lun->first));
        }
        for (const auto &other : config.resources_) {
            if (other.lun == lun->first) {
                fail_at(lun->second,
                        quote(lun->first) + " is also the LUN of resource " + quote(other.name));
            }
        }
        r.lun = lun->first;

        const auto chunk =
            number(section, "chunk_sectors", 128, kMinChunkSectors, kMaxChunkSectors);
        if ((chunk & (chunk - 1)) != 0) {
            fail_at(value(section, "chunk_sectors")->second,
                    std::to_string(chunk) + " is not a power of two");
        }
        r.chunk_sectors = static_cast<std::uint32_t>(chunk);

        auto store = value(section, "store_size");
        auto bytes = parse_size(store->first);
        if (!bytes) {
            fail_at(store->second,
                    "expected a size such as 4096, 512M or 2G, got " + quote(store->first));
        }
        if (*bytes < chunk * kSectorSize) {
            fail_at(store->second,
                    "smaller than one chunk (" + std::to_string(chunk * kSectorSize) + " bytes)");
        }
        r.store_bytes = *bytes;

        auto writer = value(section, "writer");
        auto writer_id = parse_node_id(writer->first);
        if (!writer_id) {
            fail_at(writer->second,
                    "expected an integer from 1 to 4294967295, got " + quote(writer->first));
        }
        if (config.node(*writer_id) == nullptr) {
            fail_at(writer->second, "node " + std::to_string(*writer_id) + " has no [node." +
                                        std::to_string(*writer_id) + "] section");
        }
        r.writer = *writer_id;

        if (auto policy = value(section, "lease_policy")) {
            if (policy->first == "suspend") {
                r.lease_policy = LeasePolicy::Suspend;
            } else if (policy->first == "error") {
                r.lease_policy = LeasePolicy::Error;
            } else {
                fail_at(policy->second, "expected suspend or error, got " + quote(policy->first));
            }
        }
        r.stabilize_ahead = static_cast<std::uint32_t>(
            number(section, "stabilize_ahead", 0, 0, kMaxStabilizeAhead));
        config.resources_.push_back(std::move(r));
    }
    if (config.resources_.empty()) {
        fail(0, "no [resource.NAME] sections: at least one resource is needed");
    }
}

Config ConfigBuilder::build(std::string_view text) {
    for (const auto &[key, val] : overrides_) {
        if (find_key(SectionKind::Global, key) == nullptr) {
            throw ConfigError(std::string(kCommandLine), 0, "unknown option " + quote(key));
        }
        if (trim(val).empty()) {
            throw ConfigError(std::string(kCommandLine), 0,
                              "--" + std::string(find_key(SectionKind::Global, key)->cli) +
                                  ": empty value");
        }
    }
    prescan(text);
    run_boost(normalized());
    check_required();
    Config config;
    build_nodes(config);
    build_global(config);
    build_resources(config);
    return config;
}

// ---- public API -----------------------------------------------------------

ConfigError::ConfigError(std::string file, int line, std::string message)
    : std::runtime_error(file + (line > 0 ? ":" + std::to_string(line) : std::string{}) + ": " +
                         message),
      file_(std::move(file)), line_(line), message_(std::move(message)) {
}

std::string_view to_string(LogLevel level) {
    switch (level) {
    case LogLevel::Error:
        return "error";
    case LogLevel::Warn:
        return "warn";
    case LogLevel::Info:
        return "info";
    case LogLevel::Debug:
        return "debug";
    }
    return "unknown";
}

std::string_view to_string(LeasePolicy policy) {
    return policy == LeasePolicy::Suspend ? "suspend" : "error";
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    const auto port = parse_u64(text.substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) {
        return std::nullopt;
    }
    Endpoint ep;
    ep.port = static_cast<std::uint16_t>(*port);
    if (!host.empty() && host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') {
            return std::nullopt;
        }
        host = host.substr(1, host.size() - 2);
        in6_addr addr{};
        if (inet_pton(AF_INET6, std::string(host).c_str(), &addr) != 1) {
            return std::nullopt;
        }
    } else if (all_digits_and_dots(host)) {
        in_addr addr{};
        if (inet_pton(AF_INET, std::string(host).c_str(), &addr) != 1) {
            return std::nullopt;
        }
    } else if (!valid_hostname(host)) {
        return std::nullopt;
    }
    ep.host = std::string(host);
    return ep;
}

std::string to_string(const Endpoint &endpoint) {
    const bool v6 = endpoint.host.find(':') != std::string::npos;
    return (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    unsigned shift = 0;
    switch (text.back()) {
    case 'K':
    case 'k':
        shift = 10;
        break;
    case 'M':
    case 'm':
        shift = 20;
        break;
    case 'G':
    case 'g':
        shift = 30;
        break;
    case 'T':
    case 't':
        shift = 40;
        break;
    default:
        break;
    }
    if (shift != 0) {
        text.remove_suffix(1);
    }
    auto n = parse_u64(text);
    if (!n || *n == 0 || *n > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
        return std::nullopt;
    }
    return *n << shift;
}

CommandLine parse_command_line(std::span<const char *const> args) {
    po::options_description desc("redd options");
    desc.add_options()("help,h", "show this help")(
        "config,c", po::value<std::string>()->default_value(std::string(kDefaultConfigPath)),
        "configuration file");
    for (const auto &spec : kGlobalKeys) {
        desc.add_options()(std::string(spec.cli).c_str(), po::value<std::string>(),
                           std::string(spec.help).c_str());
    }
    po::variables_map vm;
    try {
        po::store(
            po::command_line_parser(static_cast<int>(args.size()), args.data()).options(desc).run(),
            vm);
        po::notify(vm);
    } catch (const po::error &e) {
        throw ConfigError(std::string(kCommandLine), 0, e.what());
    }
    CommandLine cl;
    cl.help = vm.contains("help");
    cl.config_path = vm["config"].as<std::string>();
    for (const auto &spec : kGlobalKeys) {
        if (vm.contains(std::string(spec.cli))) {
            cl.overrides[std::string(spec.key)] = vm[std::string(spec.cli)].as<std::string>();
        }
    }
    return cl;
}

std::string command_line_help() {
    std::ostringstream out;
    out << "usage: redd [--config FILE] [overrides]\n"
        << "  -h, --help            show this help\n"
        << "  -c, --config FILE     configuration file (default " << kDefaultConfigPath << ")\n";
    for (const auto &spec : kGlobalKeys) {
        out << "  --" << spec.cli << " VALUE\t" << spec.help << "\n";
    }
    return out.str();
}

SecretKey load_key_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read key file " + quote(path) + ": " +
                                 std::strerror(errno));
    }
    Bytes bytes;
    bytes.reserve(kMaxKeySize + 1); // no reallocation: no stray copies of the key
    for (std::istreambuf_iterator<char> it(in), end; it != end && bytes.size() <= kMaxKeySize;
         ++it) {
        bytes.push_back(static_cast<std::uint8_t>(*it));
    }
    if (in.bad()) {
        throw std::runtime_error("cannot read key file " + quote(path));
    }
    if (bytes.size() < kMinKeySize || bytes.size() > kMaxKeySize) {
        throw std::runtime_error("key file " + quote(path) + " must hold " +
                                 std::to_string(kMinKeySize) + " to " +
                                 std::to_string(kMaxKeySize) + " bytes");
    }
    return SecretKey(std::move(bytes));
}

Config parse_config(std::string_view text, const std::string &source,
                    const std::map<std::string, std::string> &overrides,
                    const KeyLoader &load_key) {
    return ConfigBuilder(source, overrides, load_key).build(text);
}

Config load_config(const CommandLine &command_line) {
    const std::string &path = command_line.config_path;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw ConfigError(path, 0, std::string("cannot open: ") + std::strerror(errno));
    }
    std::string text(kMaxConfigSize + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (in.bad()) {
        throw ConfigError(path, 0, "read error");
    }
    const KeyLoader loader = load_key_file;
    return parse_config(text, path, command_line.overrides, loader);
}

const NodeConfig *Config::node(std::uint32_t id) const {
    auto it = std::find_if(nodes_.begin(), nodes_.end(),
                           [id](const NodeConfig &n) { return n.id == id; });
    return it == nodes_.end() ? nullptr : &*it;
}

const ResourceConfig *Config::resource(std::string_view name) const {
    auto it = std::find_if(resources_.begin(), resources_.end(),
                           [name](const ResourceConfig &r) { return r.name == name; });
    return it == resources_.end() ? nullptr : &*it;
}

} // namespace redd
