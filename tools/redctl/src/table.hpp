// The red target's table line and INFO status line (Documentation/dm-red.rst),
// built from and parsed into plain structs (pure logic, no system calls).
#pragma once

#include "config.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace redctl {

enum class Role { Writer, Copier };

std::string_view to_string(Role role);

// This node's role for a resource: the writer if `writer = <node_id>`.
Role local_role(const redd::ResourceConfig &resource, std::uint32_t node_id);

// The device length in sectors: the LUN's size rounded down to whole chunks
// (0 if the LUN is smaller than one chunk).
std::uint64_t device_sectors(std::uint64_t lun_bytes, std::uint32_t chunk_sectors);

// The target parameters: "<lun> <store|-> <chunk_sectors> writer|copier <resource>
// [2 lease_policy suspend|error]" (the lease policy is a writer's only).
// `store` is ignored for a writer.
std::string table_params(const redd::ResourceConfig &resource, Role role, const std::string &store);

// The fields of a loaded table's parameters (as DM_DEVICE_TABLE prints them).
struct TableArgs {
    std::string lun;
    std::string store; // "-" for a writer
    std::uint32_t chunk_sectors = 0;
    std::string role;
    std::string resource;
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

} // namespace redctl
