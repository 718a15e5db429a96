#include "render.hpp"

#include <array>
#include <iomanip>
#include <sstream>

namespace redctl {
namespace {

using nlohmann::json;

const json *member(const json &j, const char *key) {
    if (!j.is_object()) {
        return nullptr;
    }
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::optional<std::uint64_t> get_u64(const json &j, const char *key) {
    const json *v = member(j, key);
    if (v != nullptr && v->is_number_unsigned()) {
        return v->get<std::uint64_t>();
    }
    if (v != nullptr && v->is_number_integer() && v->get<std::int64_t>() >= 0) {
        return static_cast<std::uint64_t>(v->get<std::int64_t>());
    }
    return std::nullopt;
}

std::optional<double> get_double(const json &j, const char *key) {
    const json *v = member(j, key);
    if (v != nullptr && v->is_number()) {
        return v->get<double>();
    }
    return std::nullopt;
}

std::string get_str(const json &j, const char *key, const std::string &fallback = "?") {
    const json *v = member(j, key);
    if (v != nullptr && v->is_string()) {
        return v->get<std::string>();
    }
    return fallback;
}

std::optional<bool> get_bool(const json &j, const char *key) {
    const json *v = member(j, key);
    if (v != nullptr && v->is_boolean()) {
        return v->get<bool>();
    }
    return std::nullopt;
}

std::string fixed1(double value) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << value;
    return out.str();
}

std::string ms(const json &j, const char *key) {
    auto v = get_u64(j, key);
    return v ? std::to_string(*v) + "ms" : std::string("?");
}

// A scalar as text for "key:value" lines.
std::string scalar(const json &v) {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    return v.dump();
}

// Writer: the members and the write lease; copier: the read lease.
void render_membership(std::ostringstream &out, const json &r, const std::string &role) {
    if (const json *members = member(r, "members"); members != nullptr && members->is_array()) {
        for (const auto &m : *members) {
            out << "  node " << (get_u64(m, "node") ? std::to_string(*get_u64(m, "node")) : "?")
                << ": " << get_str(m, "state") << " lease-age:" << ms(m, "lease_age_ms")
                << " lease-left:" << ms(m, "lease_left_ms") << "\n";
        }
    }
    if (const json *membership = member(r, "membership"); membership != nullptr) {
        out << "  membership: " << get_str(r, "membership") << "\n";
    }
    if (get_bool(r, "down").value_or(false)) {
        out << "  redd: taken down (until the next up)\n";
    }
    if (const json *lease = member(r, "lease"); lease != nullptr) {
        const auto held = get_bool(*lease, "held");
        out << "  " << (role == "copier" ? "read" : "write")
            << " lease: " << (held ? (*held ? "held" : "not held") : "?")
            << " left:" << ms(*lease, "left_ms") << "\n";
    }
}

void render_stats(std::ostringstream &out, const json &stats, const std::string &role) {
    if (role == "writer") {
        out << "  stabilize: " << get_u64(stats, "stabilize").value_or(0) << " requests, "
            << get_u64(stats, "chunks").value_or(0) << " chunks in "
            << get_u64(stats, "ranges").value_or(0) << " ranges ("
            << fixed1(get_double(stats, "chunks_per_stabilize").value_or(0.0))
            << " chunks/stabilize)\n";
    } else {
        out << "  preserve: " << get_u64(stats, "preserves").value_or(0) << " requests, "
            << get_u64(stats, "chunks").value_or(0) << " chunks, "
            << get_u64(stats, "preserve_errors").value_or(0) << " errors\n";
    }
    const json *rtt = member(stats, "rtt_us");
    if (rtt == nullptr) {
        return;
    }
    const auto count = get_u64(*rtt, "count").value_or(0);
    out << "  round trip: " << count << " samples";
    if (count > 0) {
        out << ", p50 " << format_us(get_u64(*rtt, "p50").value_or(0));
        if (auto p90 = get_u64(*rtt, "p90")) {
            out << ", p90 " << format_us(*p90);
        }
        out << ", p99 " << format_us(get_u64(*rtt, "p99").value_or(0)) << ", max "
            << format_us(get_u64(*rtt, "max").value_or(0));
    }
    out << "\n";
    const json *hist = member(*rtt, "histogram");
    if (hist == nullptr || !hist->is_array()) {
        return;
    }
    std::string line;
    for (const auto &bucket : *hist) {
        const auto n = get_u64(bucket, "count").value_or(0);
        if (n == 0) {
            continue;
        }
        line += " <=" + format_us(get_u64(bucket, "le_us").value_or(0)) + ":" + std::to_string(n);
    }
    if (!line.empty()) {
        out << "  histogram:" << line << "\n";
    }
}

void render_device(std::ostringstream &out, const json &r) {
    const json *k = member(r, "kernel");
    if (k == nullptr || !get_bool(*k, "present").value_or(false)) {
        out << "  device: none (not up)\n";
        return;
    }
    out << "  device /dev/mapper/" << get_str(r, "name")
        << ": open:" << get_u64(*k, "open_count").value_or(0);
    if (get_bool(*k, "suspended").value_or(false)) {
        out << " suspended";
    }
    const json *s = member(*k, "status");
    if (s == nullptr) {
        out << " target:" << get_str(*k, "target") << " status:" << get_str(*k, "raw_status", "")
            << "\n";
        return;
    }
    const auto nr = get_u64(*s, "nr_chunks").value_or(0);
    out << " chunks:" << nr << "x" << get_u64(r, "chunk_sectors").value_or(0) << "s";
    if (get_str(*s, "role") == "writer") {
        out << " stable:" << get_u64(*s, "stable").value_or(0) << "/" << nr
            << " held:" << get_u64(*s, "held").value_or(0)
            << " outstanding:" << get_u64(*s, "outstanding").value_or(0)
            << " oldest:" << ms(*s, "oldest_ms") << " lease-left:" << ms(*s, "lease_left_ms")
            << " policy:" << get_str(*s, "lease_policy")
            << " errors:" << get_u64(*s, "errors").value_or(0) << "\n";
        return;
    }
    const auto used = get_u64(*s, "store_used").value_or(0);
    const auto total = get_u64(*s, "store_total").value_or(0);
    out << " held:" << get_u64(*s, "held").value_or(0)
        << " outstanding:" << get_u64(*s, "outstanding").value_or(0)
        << " read-lease-left:" << ms(*s, "lease_left_ms")
        << " errors:" << get_u64(*s, "errors").value_or(0) << "\n";
    out << "  store " << get_str(*k, "store") << ": " << used << "/" << total << " chunks";
    if (total > 0) {
        out << " (" << fixed1(100.0 * static_cast<double>(used) / static_cast<double>(total))
            << "%)";
    }
    out << " preserves:" << get_u64(*s, "preserves").value_or(0)
        << " cow:" << get_u64(*s, "cow").value_or(0) << "\n";
}

std::string node_list(const json *nodes) {
    if (nodes == nullptr || !nodes->is_array() || nodes->empty()) {
        return "none";
    }
    std::string out;
    for (const auto &n : *nodes) {
        out += (out.empty() ? "" : ",") + std::string("node-") + scalar(n);
    }
    return out;
}

std::string yes_no(bool b) {
    return b ? "yes" : "no";
}

// The LUN's epoch record (redd's view, else redctl's own read), the nodes'
// disk heartbeats, fencing, expulsion, the promotion score and progress.
void render_lun(std::ostringstream &out, const json &r, const json *rr) {
    const json *lun = rr != nullptr ? member(*rr, "lun") : nullptr;
    const json *record = lun;
    if (lun == nullptr) {
        if (const json *own = member(r, "lun_record"); own != nullptr) {
            lun = own;
            record = member(*own, "record");
        }
    }
    if (lun != nullptr) {
        out << "  lun record: ";
        // A record that fails a check: redd's "record_error" (its fields
        // are then the last record it read), or redctl's own read.
        const bool own = rr == nullptr || member(*rr, "lun") == nullptr;
        const std::string damage =
            own ? (get_bool(*lun, "damaged").value_or(false) ? get_str(*lun, "error", "?")
                                                             : std::string())
                : get_str(*lun, "record_error", "");
        const bool have = record != nullptr && get_u64(*record, "epoch").has_value();
        if (damage == "foreign") {
            out << "another resource's (is `lun` right in the configuration?)\n";
        } else if (!damage.empty() && !have) {
            out << "DAMAGED (" << damage << "): not used, no role from it\n";
        } else if (!get_bool(*lun, "readable").value_or(true)) {
            out << "unreadable (" << get_str(*lun, "error", "?") << ")\n";
        } else if (!have) {
            out << "none (role from the configuration)\n";
        } else {
            if (!damage.empty()) {
                out << "DAMAGED (" << damage << "): not used; the last one read: ";
            }
            out << "epoch:" << get_u64(*record, "epoch").value_or(0) << " writer:node-"
                << get_u64(*record, "writer").value_or(0);
            if (get_bool(*record, "resigned").value_or(false)) {
                out << " (resigned)";
            }
            out << " members:" << node_list(member(*record, "members"))
                << " generation:" << get_u64(*record, "generation").value_or(0) << "\n";
        }
        if (const json *nodes = member(*lun, "nodes"); nodes != nullptr && nodes->is_array()) {
            for (const auto &n : *nodes) {
                out << "  lun node " << get_u64(n, "node").value_or(0) << ": "
                    << (get_bool(n, "alive").value_or(false) ? "alive" : "silent")
                    << " silent:" << ms(n, "silent_ms") << " role:" << get_str(n, "role")
                    << " epoch:" << get_u64(n, "epoch").value_or(0)
                    << " writer-contact:" << yes_no(get_bool(n, "writer_contact").value_or(false))
                    << " store-used:" << get_u64(n, "store_used").value_or(0) << "\n";
            }
        }
    }
    if (rr == nullptr) {
        return;
    }
    if (get_bool(*rr, "fenced").value_or(false)) {
        out << "  FENCED: the LUN names another writer; this node's write lease ended (stop the "
               "database, redctl down, up again as a copier)\n";
    }
    if (get_bool(*rr, "expelled").value_or(false)) {
        out << "  EXPELLED: not a member of the LUN's epoch; the device fails (stop the "
               "database, redctl gc)\n";
    }
    if (const json *p = member(*rr, "promotion"); p != nullptr) {
        out << "  promotion: score " << get_u64(*p, "score").value_or(0)
            << " (store chunks; smaller promotes faster) ";
        if (get_bool(*p, "eligible").value_or(false)) {
            out << "eligible\n";
        } else {
            out << "not eligible: " << get_str(*p, "why", "?") << "\n";
        }
    }
    if (const json *p = member(*rr, "promoting"); p != nullptr) {
        out << "  promoting: epoch " << get_u64(*p, "epoch").value_or(0)
            << " copiers:" << node_list(member(*p, "members"))
            << " accepted:" << yes_no(get_bool(*p, "accepted").value_or(false))
            << " fence-wait-left:" << ms(*p, "fence_wait_left_ms") << "\n";
    }
}

} // namespace

std::string render_promote_progress(const std::optional<KernelStatus> &status,
                                    std::uint64_t elapsed_us, std::int64_t fence_wait_left_ms) {
    std::ostringstream out;
    out << "[" << format_us(elapsed_us) << "] ";
    if (!status) {
        out << "no device status";
        return out.str();
    }
    out << status->role << " " << status->state << " epoch:" << status->epoch;
    if (status->role == "writer" && status->state == "writeback") {
        out << " store chunks left:" << status->store_used << "/" << status->store_total;
    } else if (status->role == "copier" && fence_wait_left_ms > 0) {
        out << " fencing wait:" << fence_wait_left_ms << "ms left";
    }
    return out.str();
}

std::string format_us(std::uint64_t microseconds) {
    if (microseconds < 1000) {
        return std::to_string(microseconds) + "us";
    }
    if (microseconds < 1000000) {
        return fixed1(static_cast<double>(microseconds) / 1000.0) + "ms";
    }
    return fixed1(static_cast<double>(microseconds) / 1000000.0) + "s";
}

std::string format_bytes(std::uint64_t bytes) {
    static constexpr std::array<const char *, 5> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        return std::to_string(bytes) + " B";
    }
    auto value = static_cast<double>(bytes) / 1024.0;
    std::size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < kUnits.size()) {
        value /= 1024.0;
        ++unit;
    }
    return fixed1(value) + " " + kUnits.at(unit);
}

json merge_status(std::uint32_t node_id, const std::vector<ResourceView> &resources,
                  const std::optional<json> &redd_reply, const std::string &redd_error) {
    json doc{{"version", 1}, {"node_id", node_id}};
    json redd{{"running", redd_reply.has_value()}};
    if (redd_reply) {
        if (const json *peers = member(*redd_reply, "peers"); peers != nullptr) {
            redd["peers"] = *peers;
        }
    } else {
        redd["error"] = redd_error;
    }
    doc["redd"] = redd;

    json list = json::array();
    for (const auto &r : resources) {
        json kernel{{"present", r.device.present}};
        std::string state = "down";
        std::uint64_t epoch = 0;
        if (r.device.present) {
            kernel["open_count"] = r.device.open_count;
            kernel["suspended"] = r.device.suspended;
            kernel["target"] = r.device.target;
            if (r.device.table) {
                kernel["lun"] = r.device.table->lun;
                kernel["store"] = r.device.table->store;
            }
            if (r.device.status) {
                kernel["status"] = to_json(*r.device.status);
                state = r.device.status->state;
                epoch = r.device.status->epoch;
            } else {
                kernel["status"] = nullptr;
                kernel["raw_status"] = r.device.raw_status;
                state = "unknown";
            }
        }
        json from_redd = nullptr;
        if (redd_reply) {
            if (const json *rs = member(*redd_reply, "resources");
                rs != nullptr && rs->is_array()) {
                for (const auto &candidate : *rs) {
                    if (get_str(candidate, "name", "") == r.name) {
                        from_redd = candidate;
                    }
                }
            }
        }
        std::uint64_t writer = r.writer;
        if (auto w = get_u64(from_redd, "writer"); w && *w != 0) {
            writer = *w;
        }
        list.push_back(json{{"name", r.name},
                            {"role", to_string(r.role)},
                            {"role_source", to_string(r.role_source)},
                            {"writer", writer},
                            {"lun", r.lun},
                            {"lun_record", r.lun_record},
                            {"chunk_sectors", r.chunk_sectors},
                            {"store_size", r.store_bytes},
                            {"state", state},
                            {"epoch", epoch},
                            {"kernel", kernel},
                            {"redd", from_redd}});
    }
    doc["resources"] = list;
    return doc;
}

std::string render_status(const json &merged) {
    std::ostringstream out;
    const json *redd = member(merged, "redd");
    const bool running = redd != nullptr && get_bool(*redd, "running").value_or(false);
    out << "node " << get_u64(merged, "node_id").value_or(0) << ": redd ";
    if (!running) {
        out << "not running"
            << (redd != nullptr ? " (" + get_str(*redd, "error", "") + ")" : std::string()) << "\n";
    } else {
        out << "running\n";
        if (const json *peers = member(*redd, "peers"); peers != nullptr && peers->is_array()) {
            for (const auto &p : *peers) {
                out << "  peer node " << get_u64(p, "node").value_or(0) << " "
                    << get_str(p, "address") << " "
                    << (get_bool(p, "connected").value_or(false) ? "connected" : "disconnected")
                    << "\n";
            }
        }
    }
    const json *resources = member(merged, "resources");
    if (resources == nullptr || !resources->is_array()) {
        return out.str();
    }
    for (const auto &r : *resources) {
        const std::string role = get_str(r, "role");
        out << get_str(r, "name") << " role:" << role << " state:" << get_str(r, "state")
            << " epoch:" << get_u64(r, "epoch").value_or(0) << " writer:node-"
            << get_u64(r, "writer").value_or(0);
        if (get_str(r, "role_source", "") == "config") {
            out << " (configured)";
        }
        out << "\n";
        render_device(out, r);
        const json *rr = member(r, "redd");
        render_lun(out, r, rr);
        if (rr == nullptr) {
            if (running) {
                out << "  redd: does not know this resource\n";
            }
            continue;
        }
        render_membership(out, *rr, role);
        if (const json *stats = member(*rr, "stats"); stats != nullptr) {
            render_stats(out, *stats, role);
        }
    }
    return out.str();
}

std::string render_event(const json &event) {
    const std::string type = get_str(event, "type", "");
    std::ostringstream out;
    if (type == "exists") {
        out << "exists " << get_str(event, "name") << " role:" << get_str(event, "role");
        if (auto writer = get_u64(event, "writer")) {
            out << " writer:node-" << *writer;
        }
        if (const json *dev = member(event, "device"); dev != nullptr) {
            if (get_bool(*dev, "present").value_or(false)) {
                out << " state:" << get_str(*dev, "state")
                    << " epoch:" << get_u64(*dev, "epoch").value_or(0);
            } else {
                out << " device:none";
            }
        }
        if (const json *members = member(event, "members");
            members != nullptr && members->is_array()) {
            for (const auto &m : *members) {
                out << " node-" << get_u64(m, "node").value_or(0) << ":" << get_str(m, "state");
            }
        }
        return out.str();
    }
    if (type == "exists-done") {
        return "exists-done";
    }
    if (type == "event") {
        out << get_str(event, "time") << ' ' << get_str(event, "resource", "-") << ' '
            << get_str(event, "what");
        for (const auto &[key, value] : event.items()) {
            if (key == "type" || key == "time" || key == "resource" || key == "what") {
                continue;
            }
            out << ' ' << key << ':' << scalar(value);
        }
        return out.str();
    }
    return event.dump();
}

} // namespace redctl
