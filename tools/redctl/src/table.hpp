// The red target's table line and INFO status line (Documentation/dm-red.rst),
// built from and parsed into plain structs (pure logic, no system calls).
#pragma once

#include "config.hpp"
#include "lunmeta.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace redctl {

enum class Role { Writer, Copier };

std::string_view to_string(Role role);

// This node's role for a resource from the configuration alone: the writer
// if `writer = <node_id>`.
Role local_role(const redd::ResourceConfig &resource, std::uint32_t node_id);

// Where a role came from.
enum class RoleSource { Lun, Config };
std::string_view to_string(RoleSource source);

// This node's role for a resource: from the LUN's epoch record when it has
// one for this resource (the writer it names, resigned or not; every other
// node a copier), else from the configuration.  A record of another
// resource is ignored here (read_role refuses it).
struct RoleDecision {
    Role role = Role::Writer;
    std::uint32_t writer = 0; // the writer node the decision follows
    RoleSource source = RoleSource::Config;
};
RoleDecision decide_role(const redd::ResourceConfig &resource, std::uint32_t node_id,
                         const std::optional<redd::lunmeta::EpochRecord> &record);

// The role `up` takes from the LUN's record as read: `record`, or none and
// `why` (lunmeta::kBlank: never written; anything else: damage).  A damaged
// record is not an absent one (it may have named another writer): `refusal`
// says why up must stop, unless `allow_damaged` (redctl up --force), when
// the configuration decides and `damaged` keeps the damage.  Another
// resource's record is refused always.
struct UpRole {
    RoleDecision decision;
    std::string damaged; // the damage let through by allow_damaged
    std::string refusal; // non-empty: refuse, for this reason
};
UpRole role_for_up(const redd::ResourceConfig &resource, std::uint32_t node_id,
                   const std::optional<redd::lunmeta::EpochRecord> &record, const std::string &why,
                   bool allow_damaged);

// The red device's length in sectors (lunmeta::device_sectors: the LUN but
// its reserved last MiB, rounded down to whole chunks; 0 if nothing is left).
using redd::lunmeta::device_sectors;

// The target parameters: "<lun> <store|-> <chunk_sectors> writer|copier <resource>
// 2 lease_policy suspend|error" (both roles: the writer's write lease, the
// copier's read lease).  `store` is ignored for a writer.
std::string table_params(const redd::ResourceConfig &resource, Role role, const std::string &store);

// The fields of a loaded table's parameters (as DM_DEVICE_TABLE prints them);
// nullopt for a line that is not a red table line.
struct TableArgs {
    std::string lun;
    std::string store; // "-" for a writer
    std::uint32_t chunk_sectors = 0;
    std::string role;
    std::string resource;
    std::string lease_policy;          // "" when the line names none
    std::uint32_t stabilize_ahead = 0; // 0 when the line names none
};
std::optional<TableArgs> parse_table_params(std::string_view params);

// The 13 fields of the INFO status (DM_DEVICE_STATUS parameters).
struct KernelStatus {
    std::string role;
    std::string state;
    std::uint64_t epoch = 0;
    std::uint64_t store_used = 0;
    std::uint64_t store_total = 0;
    std::uint64_t stable = 0;
    std::uint64_t nr_chunks = 0;
    std::uint64_t held = 0;
    std::uint64_t outstanding = 0;
    std::uint64_t oldest_ms = 0;
    std::uint64_t preserves = 0;
    std::uint64_t cow = 0;
    std::uint64_t errors = 0;
    std::uint64_t lease_left_ms = 0;
    std::string policy;
};
std::optional<KernelStatus> parse_status_params(std::string_view params);
nlohmann::json to_json(const KernelStatus &status);

// The LUN's epoch record as JSON: {"resource","epoch","writer","resigned",
// "members","generation"}.
nlohmann::json to_json(const redd::lunmeta::EpochRecord &record);

} // namespace redctl
