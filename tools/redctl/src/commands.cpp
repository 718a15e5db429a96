#include "commands.hpp"

#include "config.hpp"
#include "control.hpp"
#include "promote.hpp"
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
    // The role from the LUN's record where it can be read; else (shown as
    // such) the configuration's.
    std::optional<redd::lunmeta::EpochRecord> record;
    view.lun_record = json{{"readable", true}, {"record", nullptr}};
    try {
        auto lun = read_lun_record(r.lun);
        if (lun.record && lun.record->resource != r.name) {
            view.lun_record["error"] =
                "the record belongs to resource '" + lun.record->resource + "'";
        } else if (lun.record) {
            view.lun_record["record"] = to_json(*lun.record);
            record = std::move(lun.record);
        } else if (lun.why != redd::lunmeta::kBlank) {
            view.lun_record["error"] = lun.why;
            view.lun_record["damaged"] = true;
        }
    } catch (const Failure &e) {
        view.lun_record = json{{"readable", false}, {"error", e.what()}, {"record", nullptr}};
    }
    const auto decision = decide_role(r, config.node_id(), record);
    view.role = decision.role;
    view.role_source = decision.source;
    view.writer = decision.writer;
    view.lun = r.lun;
    view.chunk_sectors = r.chunk_sectors;
    view.store_bytes = r.store_bytes;
    view.device = dm_inspect(r.name);
    return view;
}

// The refusal of a command on an open device.
std::string open_text(const std::string &name, const DeviceView &view, const std::string &when) {
    return name + " is open (open count " + std::to_string(view.open_count) +
           "): stop the database and unmount the filesystem " + when;
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
    const std::string &name = res.name;

    if (dm_inspect(name).present) {
        throw Failure(exit_code::kExists, name + " is already up (device-mapper device " + name +
                                              " exists); nothing changed");
    }
    const auto lun_bytes = block_device_bytes(res.lun, "LUN");
    const auto sectors = device_sectors(lun_bytes, res.chunk_sectors);
    if (sectors == 0) {
        throw Failure(exit_code::kNoLun,
                      "LUN " + res.lun + " is too small: nothing is left of it after its last " +
                          "MiB (dm-red's metadata) in whole chunks of " +
                          std::to_string(res.chunk_sectors) + " sectors");
    }
    // The role: the LUN's epoch record decides once there is one; a
    // damaged one refuses, unless --force.
    UpRole up_role;
    try {
        up_role = read_role(res, config.node_id(), options.force);
    } catch (const Failure &e) {
        throw Failure(e.code(), std::string(e.what()) + ": cannot tell this node's role for " +
                                    name + "; nothing changed");
    }
    RoleDecision &decision = up_role.decision;
    const Role role = decision.role;
    // Before changing anything: is redd there?
    auto client = ControlClient::connect(socket_path(options, config));
    if (!up_role.damaged.empty()) {
        warn("the epoch record on " + res.lun + " is damaged (" + up_role.damaged +
             "); --force: the configuration decides: this node is the " +
             std::string(to_string(role)) + " (node " + std::to_string(decision.writer) +
             " the writer)");
        if (role == Role::Writer) {
            const auto epoch = rewrite_damaged_record(res, config.node_id());
            warn("wrote a new epoch record over the damaged one: epoch " + std::to_string(epoch) +
                 ", this node the writer, no copiers (copiers that were members must gc and "
                 "rejoin)");
            decision.source = RoleSource::Lun;
        }
    }

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

    std::cout << name << ": up as " << to_string(role) << " ("
              << (decision.source == RoleSource::Lun
                      ? "the LUN's epoch record names node " + std::to_string(decision.writer) +
                            " the writer"
                      : (up_role.damaged.empty() ? std::string("no epoch record on the LUN")
                                                 : "a damaged epoch record on the LUN, --force") +
                            ": the configured writer is node " + std::to_string(decision.writer))
              << "): 0 " << sectors << " red " << params << "\n";
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
        throw Failure(exit_code::kBusy, open_text(name, view, "first"));
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

std::uint64_t us_since(Clock::time_point start) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
}

// The device of a resource that must be a red device with a status.
DeviceView red_device(const std::string &name) {
    auto view = dm_inspect(name);
    if (!view.present) {
        throw Failure(exit_code::kNotUp,
                      name + " is not up (no device-mapper device " + name + ")");
    }
    if (view.target != "red" || !view.status || !view.table) {
        throw Failure(exit_code::kFailed,
                      "device-mapper device " + name + " is not a red device; not touching it");
    }
    return view;
}

// A gc hook: /bin/sh -c CMD with RED_RESOURCE, RED_DEVICE, RED_PHASE.
// Returns its exit status; prints what it does.
int run_hook(const std::string &name, const std::string &phase, const std::string &command) {
    std::cout << name << ": running the " << phase << "-hook: " << command << std::endl;
    return run_shell(
        command, {"RED_RESOURCE=" + name, "RED_DEVICE=/dev/mapper/" + name, "RED_PHASE=" + phase});
}

std::string exit_text(int status) {
    return status > 128 ? "killed by signal " + std::to_string(status - 128)
                        : "exit status " + std::to_string(status);
}

int cmd_gc(const Options &options) {
    const auto config = read_config(options.config_path);
    const auto &res = find_resource(config, *options.resource, options.config_path);
    const std::string &name = res.name;
    const auto timeout = options.timeout.value_or(kGcTimeout);
    auto view = dm_inspect(name);
    if (!view.present) {
        // No device: a writer (by the LUN's record, else the configuration)
        // is told so first.
        std::optional<RoleDecision> decision;
        try {
            decision = read_role(res, config.node_id()).decision;
        } catch (const Failure &) {
        }
        if (decision && decision->role == Role::Writer) {
            throw Failure(exit_code::kWrongRole,
                          "gc applies to a copier; this node (" + std::to_string(config.node_id()) +
                              ") is the writer of " + name +
                              (decision->source == RoleSource::Lun ? " (the LUN's epoch record)"
                                                                   : " (the configuration)"));
        }
    }
    view = red_device(name);
    if (view.status->role != "copier") {
        throw Failure(exit_code::kWrongRole, "gc applies to a copier; the device " + name +
                                                 " is the " + view.status->role + " (node " +
                                                 std::to_string(config.node_id()) + ")");
    }
    // redd rejoins the copier after gc: it must be there.
    (void)ControlClient::connect(socket_path(options, config));

    // The pre-hook stops the database and unmounts; nothing has changed yet.
    std::optional<std::uint64_t> pre_us;
    if (options.pre_hook) {
        const auto t = Clock::now();
        if (const int st = run_hook(name, "pre", *options.pre_hook); st != 0) {
            throw Failure(exit_code::kHook, name + ": the pre-hook failed (" + exit_text(st) +
                                                "): no gc, nothing changed");
        }
        pre_us = us_since(t);
    }
    // After a refusal the post-hook, if any, brings the service back.
    auto refuse = [&](int code, const std::string &what) -> Failure {
        if (options.pre_hook && options.post_hook) {
            std::cerr << "redctl: " << what << "; running the post-hook to restore the service\n";
            const int st = run_hook(name, "post", *options.post_hook);
            if (st != 0) {
                warn("the post-hook failed too (" + exit_text(st) + ")");
            }
        }
        return {code, what};
    };
    view = dm_inspect(name);
    if (!view.present || !view.status || !view.table) {
        throw refuse(exit_code::kFailed, name + " disappeared while the pre-hook ran");
    }
    if (view.open_count > 0) {
        throw refuse(exit_code::kBusy, open_text(name, view, "before gc") +
                                           (options.pre_hook ? " (the pre-hook did not)" : ""));
    }

    const auto zram = zram_index(view.table->store);
    const auto before = zram ? zram_mem_used(*zram) : std::nullopt;
    const auto start = Clock::now();
    if (const int err = dm_message(name, "gc"); err != 0) {
        throw refuse(err == EBUSY ? exit_code::kBusy : exit_code::kFailed,
                     "the kernel refused gc on " + name + ": " + errno_text(err) +
                         (err == EBUSY ? " (the device was opened meanwhile)" : ""));
    }
    const auto after = zram ? zram_mem_used(*zram) : std::nullopt;
    std::string memory = "zram memory unknown";
    if (before && after) {
        memory = "zram memory " + format_bytes(*before) + " -> " + format_bytes(*after) + " (" +
                 format_bytes(*before > *after ? *before - *after : 0) + " freed)";
    }
    const auto deadline = start + timeout;
    std::optional<KernelStatus> now;
    for (;;) {
        // The kernel is joining when the message returns (dm-red.rst, gc):
        // active again means a join acknowledgement came.  Not "a newer
        // epoch": a copier moved up by a newer writer's preserve request
        // may rejoin at the epoch it already showed.
        now = dm_inspect(name).status;
        if (now && now->state == "active") {
            break;
        }
        if (Clock::now() >= deadline) {
            std::ostringstream what;
            what << "gc on " << name << " dropped the store (" << memory
                 << ") but the copier did not rejoin within " << timeout.count() << " s (state "
                 << (now ? now->state : "?") << ", epoch "
                 << (now ? std::to_string(now->epoch) : "?") << "): is the writer's redd reachable?"
                 << (options.post_hook ? " The post-hook was not run." : "");
            throw Failure(exit_code::kTimeout, what.str());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const auto gc_us = us_since(start);
    std::cout << name << ": gc done in " << format_us(gc_us) << ", rejoined at epoch " << now->epoch
              << "\n"
              << name << ": " << memory << std::endl;

    std::optional<std::uint64_t> post_us;
    int post_status = 0;
    if (options.post_hook) {
        const auto t = Clock::now();
        post_status = run_hook(name, "post", *options.post_hook);
        post_us = us_since(t);
    }
    std::cout << name << ": phases: pre-hook " << (pre_us ? format_us(*pre_us) : "-")
              << ", gc + rejoin " << format_us(gc_us) << ", post-hook "
              << (post_us ? format_us(*post_us) : "-") << "\n";
    if (post_status != 0) {
        throw Failure(exit_code::kHook, name + ": the post-hook failed (" + exit_text(post_status) +
                                            ") after the gc: the copier has rejoined; start the "
                                            "service by hand");
    }
    return exit_code::kOk;
}

std::string nodes_text(const json &nodes) {
    if (!nodes.is_array() || nodes.empty()) {
        return "none";
    }
    std::string out;
    for (const auto &n : nodes) {
        out += (out.empty() ? "node-" : ", node-") + n.dump();
    }
    return out;
}

// Follows a promotion of `name` that redd has under way (this redctl's, or
// one asked before) until the device is an active writer: a progress line
// about once a second; PromoteWatch decides how long (the fencing wait, then
// `timeout` without progress).  Throws Failure on a promote-failed event or
// when the watch gives up.
void follow_promotion(const std::string &name, std::optional<ControlClient> &events,
                      Clock::time_point start, std::chrono::milliseconds fence_wait,
                      std::chrono::seconds timeout) {
    PromoteWatch watch(start, fence_wait, timeout);
    auto next_line = start;
    std::optional<Clock::time_point> accepted;
    std::optional<KernelStatus> status;
    for (;;) {
        status = dm_inspect(name).status;
        const auto t = Clock::now();
        const auto verdict = watch.observe(t, status);
        if (verdict == PromoteWatch::Verdict::kDone) {
            break;
        }
        if (t >= next_line) {
            std::cout << name << ": "
                      << render_promote_progress(status, us_since(start),
                                                 watch.fence_wait_left(t).count())
                      << std::endl;
            next_line += std::chrono::seconds(1);
        }
        if (verdict == PromoteWatch::Verdict::kTimedOut) {
            std::string what = name + ": the promotion made no progress for ";
            what += std::to_string(timeout.count()) + " s after its fencing wait (";
            what += status ? status->role + ' ' + status->state : std::string("no status");
            what += ", " + format_us(us_since(start)) + " since it began";
            what += "); it goes on: follow it with redctl status " + name;
            throw Failure(exit_code::kTimeout, what);
        }
        if (!events) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            continue;
        }
        try {
            auto line = events->read(std::chrono::milliseconds(200));
            if (!line) {
                warn("redd closed its event stream; following the kernel's status only");
                events.reset();
                continue;
            }
            if (line->value("type", "") != "event" || line->value("resource", "") != name) {
                continue;
            }
            const std::string what = line->value("what", "");
            if (what == "promote-failed") {
                throw Failure(exit_code::kFailed,
                              name + ": the promotion failed: " + line->value("reason", "?") +
                                  " (see redd's log)");
            }
            if (what == "promote-accepted" && !accepted) {
                accepted = Clock::now();
                watch.progress(*accepted);
                std::cout << name << ": the kernel accepted PROMOTE after "
                          << format_us(us_since(start)) << "; writing the store back" << std::endl;
            }
        } catch (const Failure &e) {
            if (e.code() == exit_code::kTimeout) {
                continue;
            }
            if (e.code() != exit_code::kReddDown) {
                throw;
            }
            warn(std::string(e.what()) + "; following the kernel's status only");
            events.reset();
        }
    }
    std::cout << name << ": promoted: this node is the writer at epoch " << status->epoch
              << ", active (write-back complete), in " << format_us(us_since(start));
    if (accepted) {
        std::cout << " (PROMOTE after "
                  << format_us(static_cast<std::uint64_t>(
                         std::chrono::duration_cast<std::chrono::microseconds>(*accepted - start)
                             .count()))
                  << ", write-back " << format_us(us_since(*accepted)) << ")";
    }
    std::cout << "\n";
}

int cmd_promote(const Options &options) {
    const auto config = read_config(options.config_path);
    const auto &res = find_resource(config, *options.resource, options.config_path);
    const std::string &name = res.name;
    const auto timeout = options.timeout.value_or(kPromoteTimeout);
    const auto view = red_device(name);
    if (view.status->role == "writer" && view.status->state == "active") {
        throw Failure(exit_code::kRefused, name + ": this node's device is the writer already (" +
                                               view.status->state + "); nothing changed");
    }
    // The event stream first, so that no promote-failed is missed.
    const auto path = socket_path(options, config);
    std::optional<ControlClient> events = ControlClient::connect(path);
    if (!reply_ok(events->request(json{{"cmd", "events"}}, kReplyTimeout))) {
        events.reset();
    }
    auto client = ControlClient::connect(path);
    json request{{"cmd", "promote"}, {"resource", name}};
    if (options.force) {
        request["force"] = true;
    }
    const auto start = Clock::now();
    const auto reply = client.request(request, kReplyTimeout);
    if (!reply_ok(reply)) {
        const auto running = reply.find("promoting");
        if (running == reply.end() || !running->is_object()) {
            throw Failure(exit_code::kRefused,
                          name + ": " + reply_error(reply) + "; nothing changed");
        }
        // Asked again (a second redctl, or after a time-out): follow the
        // promotion that runs rather than report a refusal.
        const auto left = running->value("fence_wait_left_ms", std::int64_t{0});
        std::cout << name << ": a promotion is already under way on this node: epoch "
                  << running->value("epoch", 0) << ", copiers "
                  << nodes_text(running->value("members", json::array())) << ", "
                  << (running->value("accepted", false)
                          ? std::string("PROMOTE accepted, writing the store back")
                          : "fencing wait " + std::to_string(left) + " ms left")
                  << "; following it" << (options.force ? " (--force changes nothing)" : "")
                  << std::endl;
        follow_promotion(name, events, start, std::chrono::milliseconds(left), timeout);
        return exit_code::kOk;
    }
    const auto fence_ms = reply.value("fence_wait_ms", std::int64_t{0});
    std::cout << name << ": promotion accepted by redd: epoch " << reply.value("epoch", 0)
              << ", copiers " << nodes_text(reply.value("copiers", json::array()))
              << ", fencing wait " << fence_ms << " ms (PROMOTE follows it)"
              << (options.force ? " [forced]" : "") << std::endl;
    follow_promotion(name, events, start, std::chrono::milliseconds(fence_ms), timeout);
    return exit_code::kOk;
}

int cmd_demote(const Options &options) {
    const auto config = read_config(options.config_path);
    const auto &res = find_resource(config, *options.resource, options.config_path);
    const std::string &name = res.name;
    const auto view = red_device(name);
    if (view.status->role != "writer") {
        throw Failure(exit_code::kWrongRole, "demote applies to the writer; the device " + name +
                                                 " on this node is a " + view.status->role +
                                                 "; nothing changed");
    }
    if (view.open_count > 0) {
        throw Failure(exit_code::kBusy, open_text(name, view, "before demote"));
    }
    auto client = ControlClient::connect(socket_path(options, config));
    json request{{"cmd", "demote"}, {"resource", name}};
    if (options.force) {
        request["force"] = true;
    }
    const auto reply = client.request(request, kReplyTimeout);
    if (!reply_ok(reply)) {
        throw Failure(exit_code::kRefused,
                      name + ": redd refused demote: " + reply_error(reply) + "; nothing changed");
    }
    std::uint64_t epoch = view.status->epoch;
    if (const auto *lun = reply.contains("lun") ? &reply["lun"] : nullptr;
        lun != nullptr && lun->is_object()) {
        epoch = lun->value("epoch", epoch);
    }
    // A promoted copier's table still names its (empty) zram store: it goes
    // with the device, as with down.
    const std::string store = view.table ? view.table->store : "-";
    const std::optional<int> zram = store != "-" ? zram_index(store) : std::nullopt;
    try {
        dm_remove(name);
    } catch (const Failure &e) {
        throw Failure(e.code(), std::string(e.what()) +
                                    ": the writer resigned and its write lease ended, but the "
                                    "device is still there; close it and run dmsetup remove " +
                                    name);
    }
    if (zram) {
        zram_reset(*zram);
        zram_hot_remove(*zram);
    }
    std::cout << name << ": demoted: the LUN's epoch record says node " << config.node_id()
              << " resigned at epoch " << epoch << "; the write lease ended; device removed"
              << (zram ? ", store " + store + " reset and removed" : std::string{}) << ".\n"
              << name << ": `redctl up " << name
              << "` brings it back: as the writer, or as a copier once another node is "
                 "promoted\n";
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
    case Command::Promote:
        return cmd_promote(options);
    case Command::Demote:
        return cmd_demote(options);
    case Command::None:
        break;
    }
    throw Failure(exit_code::kUsage, "no command given (see redctl --help)");
}

} // namespace redctl
