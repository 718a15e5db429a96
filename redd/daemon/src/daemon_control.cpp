// The daemon's side of the control socket: the commands, the status and
// event lines (Documentation/control-socket.rst), and the statistics log.
#include "daemon.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <iomanip>
#include <linux/dm-red.h>
#include <sstream>

namespace redd::daemon {

namespace {

constexpr int kControlVersion = 1;

std::int64_t ms_between(TimePoint from, TimePoint to) {
    return std::chrono::duration_cast<Millis>(to - from).count();
}

// "2026-11-21T08:00:00.123Z"
std::string utc_now() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    std::tm tm{};
    gmtime_r(&ts.tv_sec, &tm);
    std::array<char, 40> buf{};
    const std::size_t n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    const std::string ms = std::to_string(1000 + ts.tv_nsec / 1000000); // "1123"
    return std::string(buf.data(), n) + "." + ms.substr(1) + "Z";
}

const char *member_what(MemberEventKind kind) {
    switch (kind) {
    case MemberEventKind::JoinRequested:
        return "member-joining";
    case MemberEventKind::Joined:
        return "member-joined";
    case MemberEventKind::Revoked:
        return "member-revoked";
    case MemberEventKind::Expelled:
        return "member-expelled";
    case MemberEventKind::Left:
        return "member-left";
    case MemberEventKind::LeaseExpired:
        return "member-failed";
    case MemberEventKind::LeaseResumed:
        return "member-resumed";
    case MemberEventKind::EpochChanged:
        return nullptr; // the kernel's EPOCH event says it
    }
    return nullptr;
}

const char *kernel_what(std::uint32_t event) {
    switch (event) {
    case DM_RED_EV_CREATED:
        return "device-created";
    case DM_RED_EV_DESTROYED:
        return "device-destroyed";
    case DM_RED_EV_STATE:
        return "device-state";
    case DM_RED_EV_EPOCH:
        return "epoch";
    case DM_RED_EV_STORE_FULL:
        return "store-full";
    case DM_RED_EV_LEASE_EXPIRED:
        return "lease-expired";
    case DM_RED_EV_GC:
        return "gc";
    case DM_RED_EV_PROMOTED:
        return "promoted";
    default:
        return nullptr;
    }
}

// Only these fields, of these types, are accepted in a request.
std::string check_fields(const Json &request) {
    for (const auto &[key, value] : request.items()) {
        if (key == "cmd") {
            continue;
        }
        if (key == "resource") {
            if (!value.is_string()) {
                return "\"resource\" must be a string";
            }
        } else if (key == "force") {
            if (!value.is_boolean()) {
                return "\"force\" must be true or false";
            }
        } else {
            return "unknown field \"" + key + "\"";
        }
    }
    return {};
}

} // namespace

void Daemon::on_control(std::uint64_t client, const Json &request) {
    const std::string cmd = request.at("cmd").get<std::string>();
    if (const std::string bad = check_fields(request); !bad.empty()) {
        control_->reply(client, ControlServer::error(bad));
        return;
    }
    Resource *r = nullptr;
    if (auto it = request.find("resource"); it != request.end()) {
        const auto name = it->get<std::string>();
        r = resource(name);
        if (r == nullptr) {
            control_->reply(client, ControlServer::error("unknown resource '" + name + "'"));
            return;
        }
    }
    const bool force = request.value("force", false);
    const bool needs_resource = cmd == "up" || cmd == "down" || cmd == "promote" || cmd == "demote";
    if (needs_resource && r == nullptr) {
        control_->reply(client, ControlServer::error(cmd + " needs a \"resource\""));
        return;
    }
    if (force && cmd != "down" && cmd != "promote" && cmd != "demote") {
        control_->reply(client,
                        ControlServer::error("\"force\" is only for down, promote and demote"));
        return;
    }
    if (cmd == "status") {
        control_->reply(client, status(r));
    } else if (cmd == "reset-stats") {
        for (auto &[name, res] : resources_) {
            if (r == nullptr || r == &res) {
                res.stats = Stats{};
                log_.info(name, ": statistics reset");
            }
        }
        control_->reply(client, Json{{"ok", true}});
    } else if (cmd == "up") {
        control_up(client, *r);
    } else if (cmd == "down") {
        control_down(client, *r, force);
    } else if (cmd == "promote") {
        control_promote(client, *r, force);
    } else if (cmd == "demote") {
        control_demote(client, *r, force);
    } else if (cmd == "events") {
        if (r != nullptr) {
            control_->reply(client, ControlServer::error("events takes no \"resource\""));
            return;
        }
        std::vector<Json> first;
        const TimePoint now = Clock::now();
        for (const auto &[name, res] : resources_) {
            Json line{{"type", "exists"}};
            line.update(resource_status(res, now));
            first.push_back(std::move(line));
        }
        first.push_back(Json{{"type", "exists-done"}});
        control_->subscribe(client, first);
    } else {
        control_->reply(client, ControlServer::error("unknown command '" + cmd + "'"));
    }
}

void Daemon::control_up(std::uint64_t client, Resource &r) {
    if (r.down) {
        log_.info(r.config->name, ": up: membership resumes");
        r.down = false;
    }
    // The table was (re)loaded just before: see the device as it is now.
    const std::string name = r.config->name;
    kernel_->dump([this, client, name](int err, const std::string &extack) {
        if (err != 0) {
            control_->reply(client, ControlServer::error("kernel state dump failed: " +
                                                         errno_name(err) + " " + extack));
            return;
        }
        const Resource *res = resource(name);
        if (!res->present) {
            control_->reply(client, ControlServer::error("no red device for resource '" + name +
                                                         "' in the kernel (load its table first)"));
            return;
        }
        if (!res->usable) {
            control_->reply(client, ControlServer::error("the red device of '" + name +
                                                         "' does not match the configuration (role "
                                                         "or chunk size): see redd's log"));
            return;
        }
        control_->reply(client, status(res));
    });
}

void Daemon::control_down(std::uint64_t client, Resource &r, bool force) {
    const TimePoint now = Clock::now();
    const std::string name = r.config->name;
    if (r.writer) {
        std::vector<std::uint32_t> copiers;
        if (r.members) {
            copiers = r.members->members();
        }
        copiers.insert(copiers.end(), r.joiners.begin(), r.joiners.end());
        if (!copiers.empty() && !force) {
            std::string list;
            for (std::uint32_t n : copiers) {
                list += (list.empty() ? "" : ", ") + std::to_string(n);
            }
            control_->reply(client,
                            ControlServer::error(std::to_string(copiers.size()) +
                                                 " copier(s) joined (node " + list +
                                                 "): take them down first, or force (their read "
                                                 "leases are revoked and their devices fail)"));
            return;
        }
        r.down = true;
        for (std::uint32_t n : copiers) {
            // Revoked, not dropped: a copier may hold a read lease, so its
            // preserves are still waited for until that lease certainly ends.
            r.members->revoke(n, now, "the writer is going down (forced)");
        }
        r.joiners.clear();
        log_membership(r);
        log_.info(name, ": down", copiers.empty() ? "" : " (forced)", ": no more joins");
        Json reply = status(&r);
        reply["revoked"] = copiers;
        control_->reply(client, reply);
        return;
    }
    if (r.fenced) {
        // A fenced writer: the kernel fails its I/O already (LEASE 0), and
        // no writer waits for it.  Nothing to end, nobody to tell.
        r.down = true;
        log_.info(name, ": down: fenced writer device (node ", r.writer_node, " is the writer)");
        control_->reply(client, status(&r));
        return;
    }
    // Copier: stop reading the LUN first (the kernel fails the device when
    // its read lease ends), then tell the writer, which stops preserving
    // for us at once.
    const bool was_down = r.down;
    r.down = true;
    if (r.local) {
        r.local->leave(now);
        for (const auto &e : r.local->take_events()) {
            emit_member_event(r, e);
        }
    }
    r.resuming = false;
    r.preserve_started.clear();
    auto tell_writer = [this, client, name]() {
        Resource *res = resource(name);
        Frame leave;
        leave.resource = name;
        leave.epoch = res->writer_epoch;
        leave.request_id = next_request();
        leave.payload = Leave{};
        const bool sent = send_frame(res->config->writer, std::move(leave));
        log_.info(name, ": down: ", sent ? "told" : "could not tell", " writer node ",
                  res->config->writer,
                  sent ? " that we leave" : " (not connected): it expels us when our lease ends");
        Json reply = status(res);
        reply["writer_notified"] = sent;
        control_->reply(client, reply);
    };
    if (!r.present || was_down) {
        tell_writer();
        return;
    }
    kernel_->lease(name, 0, [this, client, name, tell_writer](int err, const std::string &extack) {
        if (err != 0) {
            log_.error(name, ": down: kernel refused to end the read lease: ", errno_name(err), " ",
                       extack);
            control_->reply(client,
                            ControlServer::error("the kernel refused to end the read lease (" +
                                                 errno_name(err) +
                                                 "); the writer will expel this "
                                                 "copier when its lease runs out"));
            return;
        }
        tell_writer();
    });
}

Json Daemon::status(const Resource *only) const {
    const TimePoint now = Clock::now();
    Json peers = Json::array();
    for (const auto &[id, p] : peers_) {
        auto it = links_.find(p.link);
        const bool connected = p.link != 0 && !doomed_.contains(p.link) && it != links_.end() &&
                               it->second.conn->authenticated();
        peers.push_back(
            Json{{"node", id}, {"address", to_string(p.config.address)}, {"connected", connected}});
    }
    Json resources = Json::array();
    for (const auto &[name, r] : resources_) {
        if (only == nullptr || only == &r) {
            resources.push_back(resource_status(r, now));
        }
    }
    return Json{{"ok", true},
                {"version", kControlVersion},
                {"node_id", config_.node_id()},
                {"peers", std::move(peers)},
                {"resources", std::move(resources)}};
}

Json Daemon::resource_status(const Resource &r, TimePoint now) const {
    Json device{{"present", r.present}};
    if (r.present) {
        device["dm_name"] = r.dm_name;
        device["state"] = std::string(state_name(r.state));
        device["epoch"] = r.epoch;
        device["chunk_sectors"] = r.chunk_sectors;
        device["nr_chunks"] = r.nr_chunks;
        device["usable"] = r.usable;
    }
    Json members = Json::array();
    Json lease{{"held", false}, {"left_ms", 0}};
    if (r.writer) {
        if (r.members) {
            for (std::uint32_t node : r.members->members()) {
                Json m{{"node", node}, {"state", r.failed.contains(node) ? "failed" : "joined"}};
                if (auto g = r.granted.find(node); g != r.granted.end()) {
                    m["lease_age_ms"] = ms_between(g->second, now);
                    m["lease_left_ms"] =
                        std::max<std::int64_t>(0, ms_between(now, g->second + config_.lease()));
                }
                members.push_back(std::move(m));
            }
            for (std::uint32_t node : r.joiners) {
                members.push_back(Json{{"node", node}, {"state", "joining"}});
            }
        }
        if (r.write_lease) {
            if (auto until = r.write_lease->held_until(); until && *until > now) {
                lease = Json{{"held", true}, {"left_ms", ms_between(now, *until)}};
            }
        }
    } else if (r.local) {
        if (auto expiry = r.local->lease().expiry(); expiry && *expiry > now) {
            lease = Json{{"held", true}, {"left_ms", ms_between(now, *expiry)}};
        }
    }
    const Stats &s = r.stats;
    const auto sum = s.rtt_us.summary();
    Json histogram = Json::array();
    for (const auto &b : s.rtt_us.histogram()) {
        histogram.push_back(Json{{"le_us", b.le}, {"count", b.count}});
    }
    const std::uint64_t per = r.writer ? s.stabilize : s.preserves;
    Json stats{{"stabilize", s.stabilize},
               {"chunks", s.chunks},
               {"ranges", s.ranges},
               {"chunks_per_stabilize",
                per == 0 ? 0.0 : static_cast<double>(s.chunks) / static_cast<double>(per)},
               {"preserves", s.preserves},
               {"preserve_errors", s.preserve_errors},
               {"rtt_us", Json{{"count", sum.count},
                               {"p50", sum.p50},
                               {"p90", sum.p90},
                               {"p99", sum.p99},
                               {"max", sum.max},
                               {"window", s.rtt_us.window()},
                               {"histogram", std::move(histogram)}}}};
    Json out{{"name", r.config->name},
             {"writer", r.writer_node},
             {"role", r.writer ? "writer" : "copier"},
             {"down", r.down},
             {"device", std::move(device)},
             {"members", std::move(members)},
             {"lease", std::move(lease)},
             {"stats", std::move(stats)}};
    if (!r.writer) {
        out["membership"] = r.local ? std::string(to_string(r.local->state())) : "idle";
    }
    out.update(lun_status(r, now));
    return out;
}

void Daemon::emit(const std::string &resource, const char *what, const Json &fields) {
    if (!control_ || control_->subscribers() == 0) {
        return;
    }
    Json line{{"type", "event"}, {"time", utc_now()}};
    if (!resource.empty()) {
        line["resource"] = resource;
    }
    line["what"] = what;
    line.update(fields);
    control_->broadcast(line);
}

void Daemon::emit_kernel_event(const Resource &r, std::uint32_t event) {
    const char *what = kernel_what(event);
    if (what == nullptr) {
        return;
    }
    Json fields{{"epoch", r.epoch}};
    if (r.present) {
        fields["state"] = std::string(state_name(r.state));
    }
    emit(r.config->name, what, fields);
}

void Daemon::emit_member_event(const Resource &r, const MembershipEvent &e) {
    const char *what = member_what(e.kind);
    if (what == nullptr) {
        return;
    }
    Json fields{{"node", e.node}, {"epoch", e.epoch}};
    if (!e.detail.empty()) {
        fields["reason"] = e.detail;
    }
    emit(r.config->name, what, fields);
}

void Daemon::log_stats(const char *why) const {
    for (const auto &[name, r] : resources_) {
        const Stats &s = r.stats;
        const std::uint64_t per = r.writer ? s.stabilize : s.preserves;
        std::ostringstream ratio;
        ratio << std::fixed << std::setprecision(1)
              << (per == 0 ? 0.0 : static_cast<double>(s.chunks) / static_cast<double>(per));
        log_.info(name, ": stats (", why, "): ", r.writer ? "writer" : "copier",
                  " stabilize=", s.stabilize, " chunks=", s.chunks, " ranges=", s.ranges,
                  " chunks/", r.writer ? "stabilize" : "preserve", "=", ratio.str(),
                  " preserves=", s.preserves, " preserve_errors=", s.preserve_errors, " ",
                  r.writer ? "stabilize" : "preserve", "_rtt_us ", to_string(s.rtt_us.summary()));
    }
}

} // namespace redd::daemon
