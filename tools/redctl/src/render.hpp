// The merged status document (redd's view + the kernel's) and its human
// rendering; the human form of event lines.  Pure logic.
#pragma once

#include "table.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace redctl {

// What device-mapper says about a resource's device.
struct DeviceView {
    bool present = false;
    std::int32_t open_count = 0;
    bool suspended = false;
    std::string target;                 // target type, "red" for ours
    std::optional<TableArgs> table;     // parsed table parameters
    std::optional<KernelStatus> status; // parsed INFO status
    std::string raw_status;             // unparsed status (when not ours or malformed)
};

// One configured resource, with its device.
struct ResourceView {
    std::string name;
    Role role = Role::Writer;
    RoleSource role_source = RoleSource::Config;
    std::uint32_t writer = 0; // from the LUN's record, else the configuration
    // redctl's own read of the LUN's epoch record: {"readable":B,"error":S?,
    // "record":{...}|null}.
    nlohmann::json lun_record;
    std::string lun;
    std::uint32_t chunk_sectors = 0;
    std::uint64_t store_bytes = 0;
    DeviceView device;
};

// The `status --json` document:
// {"version":1,"node_id":N,"redd":{"running":B,"error":S?,"peers":[...]},
//  "resources":[{"name","role","role_source","writer","lun","lun_record",
//                "chunk_sectors","store_size","state","epoch","kernel":{...},
//                "redd":{...}|null}]}
// "writer" is redd's (the LUN's record as redd follows it) when redd knows
// the resource, else the view's.
// `redd_reply` is redd's status reply (ok), or nullopt with `redd_error`.
nlohmann::json merge_status(std::uint32_t node_id, const std::vector<ResourceView> &resources,
                            const std::optional<nlohmann::json> &redd_reply,
                            const std::string &redd_error);

// The human form of merge_status's document, in the spirit of `drbdadm status`.
std::string render_status(const nlohmann::json &merged);

// One progress line of a promotion (no newline): the kernel's state and,
// during the write-back, the store chunks left.
std::string render_promote_progress(const std::optional<KernelStatus> &status,
                                    std::uint64_t elapsed_us, std::int64_t fence_wait_left_ms);

// One line (no newline) for one line of redd's event stream.
std::string render_event(const nlohmann::json &event);

// "850us", "2.1ms", "1.25s"
std::string format_us(std::uint64_t microseconds);
// "512 B", "12.3 KiB", "1.0 GiB"
std::string format_bytes(std::uint64_t bytes);

} // namespace redctl
