#include "commands.hpp"

#include "config.hpp"
#include "control.hpp"
#include "render.hpp"
#include "system.hpp"
#include "table.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

namespace redctl {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kReplyTimeout{30000};

void warn(const std::string &message) {
    std::cerr << "redctl: warning: " << message << "\n";
}

// The configuration, parsed by redd's own parser.  The key file is not read:
// redctl does not need the secret.
redd::Config read_config(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw Failure(exit_code::kConfig, path + ": cannot open: " + errno_text(errno));
    }
    std::stringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw Failure(exit_code::kConfig, path + ": read error");
    }
    const redd::KeyLoader no_key = [](const std::string &) { return redd::SecretKey(); };
    try {
        return redd::parse_config(text.str(), path, {}, no_key);
    } catch (const redd::ConfigError &e) {
        throw Failure(exit_code::kConfig, e.what());
    }
}

const redd::ResourceConfig &find_resource(const redd::Config &config, const std::string &name,
                                          const std::string &path) {
    const auto *resource = config.resource(name);
    if (resource == nullptr) {
        std::string known;
        for (const auto &r : config.resources()) {
            known += (known.empty() ? "" : ", ") + r.name;
        }
        throw Failure(exit_code::kConfig, "unknown resource '" + name + "' (" + path + " has " +
                                              (known.empty() ? "none" : known) + ")");
    }
    return *resource;
}

std::string socket_path(const Options &options, const redd::Config &config) {
    return options.control_socket.value_or(config.control_socket());
}

std::string reply_error(const json &reply) {
    auto it = reply.find("error");
    return it != reply.end() && it->is_string() ? it->get<std::string>() : reply.dump();
}

bool reply_ok(const json &reply) {
    auto it = reply.find("ok");
    return it != reply.end() && it->is_boolean() && it->get<bool>();
}

ResourceView view_of(const redd::Config &config, const redd::ResourceConfig &r) {
    ResourceView view;
    view.name = r.name;
    view.role = local_role(r, config.node_id());
    view.writer = r.writer;
    view.lun = r.lun;
    view.chunk_sectors = r.chunk_sectors;
    view.store_bytes = r.store_bytes;
    view.device = dm_inspect(r.name);
    return view;
}

// Undo actions, run in reverse order unless commit() was called.
class Rollback {
public:
    Rollback() = default;
    Rollback(const Rollback &) = delete;
    Rollback &operator=(const Rollback &) = delete;
    Rollback(Rollback &&) = delete;
    Rollback &operator=(Rollback &&) = delete;
    ~Rollback() {
        if (committed_) {
            return;
        }
        std::for_each(undo_.rbegin(), undo_.rend(), [](const auto &step) {
            try {
                step.second();
            } catch (const std::exception &e) {
                std::cerr << "redctl: could not undo (" << step.first << "): " << e.what() << "\n";
            }
        });
    }
    void add(std::string what, std::function<void()> undo) {
        undo_.emplace_back(std::move(what), std::move(undo));
    }
    void commit() { committed_ = true; }

private:
    std::vector<std::pair<std::string, std::function<void()>>> undo_;
    bool committed_ = false;
};

int cmd_up(const Options &options) {
    const auto config = read_config(options.config_path);
    const auto &res = find_resource(config, *options.resource, options.config_path);
    const Role role = local_role(res, config.node_id());
    const std::string &name = res.name;

    if (dm_inspect(name).present) {
        throw Failure(exit_code::kExists, name + " is already up (device-mapper device " + name +
                                              " exists); nothing changed");
    }
    const auto sectors = device_sectors(block_device_bytes(res.lun, "LUN"), res.chunk_sectors);
    if (sectors == 0) {
        throw Failure(exit_code::kNoLun, "LUN " + res.lun + " is smaller than one chunk (" +
                                             std::to_string(res.chunk_sectors) + " sectors)");
    }
    // Before changing anything: is redd there?
    auto client = ControlClient::connect(socket_path(options, config));

    Rollback rollback;
    std::string store = "-";
    if (role == Role::Copier) {
        const int index = zram_hot_add();
        rollback.add("remove zram" + std::to_string(index), [index] { zram_hot_remove(index); });
        rollback.add("reset zram" + std::to_string(index), [index] { zram_reset(index); });
        zram_set_disksize(index, res.store_bytes);
        store = zram_device_path(index);
    }
    const std::string params = table_params(res, role, store);
    dm_create(name, sectors, params);
    rollback.add("remove device " + name, [name] { dm_remove(name); });

    const auto reply = client.request(json{{"cmd", "up"}, {"resource", name}}, kReplyTimeout);
    if (!reply_ok(reply)) {
        throw Failure(exit_code::kFailed, "redd refused up " + name + ": " + reply_error(reply) +
                                              " (the device was removed again)");
    }
    rollback.commit();

    std::cout << name << ": up as " << to_string(role) << ": 0 " << sectors << " red " << params
              << "\n";
    std::vector<ResourceView> views{view_of(config, res)};
    json redd_view{{"resources", reply.contains("resources") ? reply["resources"] : json::array()}};
    std::cout << render_status(merge_status(config.node_id(), views, redd_view, ""));
    return exit_code::kOk;
}

int cmd_down(const Options &options) {
    const auto config = read_config(options.config_path);
    const auto &res = find_resource(config, *options.resource, options.config_path);
    const std::string &name = res.name;
    const auto view = dm_inspect(name);
    if (!view.present) {
        throw Failure(exit_code::kNotUp,
                      name + " is not up (no device-mapper device " + name + ")");
    }
    if (view.target != "red") {
        throw Failure(exit_code::kFailed, "device-mapper device " + name +
                                              " is not a red device (" + view.target +
                                              "); not touching it");
    }
    if (view.open_count > 0) {
        throw Failure(exit_code::kBusy,
                      name + " is open (open count " + std::to_string(view.open_count) +
                          "): stop the database and unmount the filesystem first");
    }
    std::optional<int> zram;
    std::string store = view.table ? view.table->store : "-";
    if (store != "-") {
        zram = zram_index(store);
    }

    try {
        auto client = ControlClient::connect(socket_path(options, config));
        json request{{"cmd", "down"}, {"resource", name}};
        if (options.force) {
            request["force"] = true;
        }
        const auto reply = client.request(request, kReplyTimeout);
        if (!reply_ok(reply)) {
            throw Failure(exit_code::kFailed,
                          "redd refused down " + name + ": " + reply_error(reply) +
                              (options.force ? "" : " (--force overrides)") + "; nothing changed");
        }
        if (auto it = reply.find("writer_notified"); it != reply.end() && *it == false) {
            warn("the writer was not reachable: it drops this copier once its read lease has "
                 "certainly expired");
        }
        if (auto it = reply.find("revoked"); it != reply.end() && it->is_array() && !it->empty()) {
            warn("the read leases of copier node(s) " + it->dump() +
                 " were revoked: their devices fail when their leases run out");
        }
    } catch (const Failure &e) {
        if (e.code() != exit_code::kReddDown) {
            throw;
        }
        if (!options.force) {
            throw Failure(exit_code::kReddDown,
                          std::string(e.what()) +
                              "; nothing changed (--force removes the device without redd)");
        }
        warn(std::string(e.what()) + "; removing the device anyway (--force)");
    }

    dm_remove(name);
    std::cout << name << ": down, device removed";
    if (zram) {
        zram_reset(*zram);
        zram_hot_remove(*zram);
        std::cout << ", store " << store << " reset and removed";
    } else if (store != "-") {
        std::cout << ", store " << store << " left alone (not a zram device)";
    }
    std::cout << "\n";
    return exit_code::kOk;
}

int cmd_status(const Options &options) {
    const auto config = read_config(options.config_path);
    std::vector<ResourceView> views;
    if (options.resource) {
        views.push_back(
            view_of(config, find_resource(config, *options.resource, options.config_path)));
    } else {
        for (const auto &r : config.resources()) {
            views.push_back(view_of(config, r));
        }
    }
    std::optional<json> reply;
    std::string redd_error;
    try {
        auto client = ControlClient::connect(socket_path(options, config));
        json request{{"cmd", "status"}};
        if (options.resource) {
            request["resource"] = *options.resource;
        }
        auto answer = client.request(request, kReplyTimeout);
        if (reply_ok(answer)) {
            reply = std::move(answer);
        } else {
            redd_error = "redd: " + reply_error(answer);
        }
    } catch (const Failure &e) {
        if (e.code() == exit_code::kPermission) {
            throw;
        }
        redd_error = e.what();
    }
    if (!reply) {
        warn(redd_error + "; showing the kernel's view only");
    }
    const auto merged = merge_status(config.node_id(), views, reply, redd_error);
    if (options.json) {
        std::cout << merged.dump() << "\n";
    } else {
        std::cout << render_status(merged);
    }
    return exit_code::kOk;
}

int cmd_events(const Options &options) {
    const auto config = read_config(options.config_path);
    auto client = ControlClient::connect(socket_path(options, config));
    const auto reply = client.request(json{{"cmd", "events"}}, kReplyTimeout);
    if (!reply_ok(reply)) {
        throw Failure(exit_code::kFailed, "redd refused events: " + reply_error(reply));
    }
    for (;;) {
        auto line = client.read(std::nullopt);
        if (!line) {
            throw Failure(exit_code::kReddDown, "redd closed the event stream");
        }
        std::cout << (options.json ? line->dump() : render_event(*line)) << std::endl;
    }
}

int cmd_gc(const Options &options) {
    const auto config = read_config(options.config_path);
    const auto &res = find_resource(config, *options.resource, options.config_path);
    const std::string &name = res.name;
    if (local_role(res, config.node_id()) != Role::Copier) {
        throw Failure(exit_code::kWrongRole, "gc applies to a copier; this node (" +
                                                 std::to_string(config.node_id()) +
                                                 ") is the writer of " + name);
    }
    const auto view = dm_inspect(name);
    if (!view.present) {
        throw Failure(exit_code::kNotUp,
                      name + " is not up (no device-mapper device " + name + ")");
    }
    if (view.target != "red" || !view.status || !view.table) {
        throw Failure(exit_code::kFailed,
                      "device-mapper device " + name + " is not a red device; not touching it");
    }
    if (view.status->role != "copier") {
        throw Failure(exit_code::kWrongRole, "the device " + name + " is a " + view.status->role +
                                                 ", gc applies to a copier");
    }
    if (view.open_count > 0) {
        throw Failure(exit_code::kBusy,
                      name + " is open (open count " + std::to_string(view.open_count) +
                          "): stop the database and unmount the filesystem before gc");
    }
    // redd rejoins the copier after gc: it must be there.
    (void)ControlClient::connect(socket_path(options, config));

    const auto zram = zram_index(view.table->store);
    const auto before = zram ? zram_mem_used(*zram) : std::nullopt;
    const std::uint64_t old_epoch = view.status->epoch;
    const auto start = Clock::now();
    if (const int err = dm_message(name, "gc"); err != 0) {
        throw Failure(err == EBUSY ? exit_code::kBusy : exit_code::kFailed,
                      "the kernel refused gc on " + name + ": " + errno_text(err) +
                          (err == EBUSY ? " (the device was opened meanwhile)" : ""));
    }
    const auto after = zram ? zram_mem_used(*zram) : std::nullopt;
    std::string memory = "zram memory unknown";
    if (before && after) {
        memory = "zram memory " + format_bytes(*before) + " -> " + format_bytes(*after) + " (" +
                 format_bytes(*before > *after ? *before - *after : 0) + " freed)";
    }
    const auto deadline = start + options.timeout;
    std::optional<KernelStatus> now;
    for (;;) {
        now = dm_inspect(name).status;
        if (now && now->state == "active" && now->epoch > old_epoch) {
            break;
        }
        if (Clock::now() >= deadline) {
            std::ostringstream what;
            what << "gc on " << name << " dropped the store (" << memory
                 << ") but the copier did not rejoin within " << options.timeout.count()
                 << " s (state " << (now ? now->state : "?") << ", epoch "
                 << (now ? std::to_string(now->epoch) : "?")
                 << "): is the writer's redd reachable?";
            throw Failure(exit_code::kTimeout, what.str());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const auto took = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    std::cout << name << ": gc done in " << format_us(static_cast<std::uint64_t>(took.count()))
              << ", rejoined at epoch " << now->epoch << "\n"
              << name << ": " << memory << "\n";
    return exit_code::kOk;
}

} // namespace

int run_command(const Options &options) {
    const DmLibrary library;
    switch (options.command) {
    case Command::Up:
        return cmd_up(options);
    case Command::Down:
        return cmd_down(options);
    case Command::Status:
        return cmd_status(options);
    case Command::Events:
        return cmd_events(options);
    case Command::Gc:
        return cmd_gc(options);
    case Command::None:
        break;
    }
    throw Failure(exit_code::kUsage, "no command given (see redctl --help)");
}

} // namespace redctl
