// The system side of redctl: device-mapper (libdevmapper), zram (sysfs) and
// block devices.  Every handle is RAII; errors are Failure exceptions.
#pragma once

#include "render.hpp"
#include "unique_fd.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace redctl {

using redd::UniqueFd;

// strerror(err) as a std::string.
std::string errno_text(int err);

// ---- device-mapper -------------------------------------------------------

// Calls dm_lib_release()/dm_lib_exit() when it goes out of scope.
class DmLibrary {
public:
    DmLibrary() = default;
    DmLibrary(const DmLibrary &) = delete;
    DmLibrary &operator=(const DmLibrary &) = delete;
    DmLibrary(DmLibrary &&) = delete;
    DmLibrary &operator=(DmLibrary &&) = delete;
    ~DmLibrary();
};

// The device named `name`: info, first target's table and status.  A device
// that does not exist gives present = false.
DeviceView dm_inspect(const std::string &name);

// Creates, loads and resumes `name` with one target "0 sectors red params".
// Throws Failure(kFailed) (the kernel's reason is in its log).
void dm_create(const std::string &name, std::uint64_t sectors, const std::string &params);

// Removes `name`.  Throws Failure(kBusy) when the device is open, else kFailed.
void dm_remove(const std::string &name);

// Sends a target message to sector 0.  Returns 0 or the errno.
int dm_message(const std::string &name, const std::string &message);

// ---- block devices and zram ------------------------------------------------

// The LUN's epoch record (lunmeta::Area, O_DIRECT).  `record` is nullopt
// when there is none (`why`: "blank", or why a block was unusable: redd
// then treats it as absent too).  Throws Failure(kNoLun) when the metadata
// area cannot be opened or read.
struct LunRecord {
    std::optional<redd::lunmeta::EpochRecord> record;
    std::string why;
};
LunRecord read_lun_record(const std::string &lun);

// The role of `resource` on node `node_id` (role_for_up) from the LUN's
// record as read_lun_record reads it; throws as it does, and Failure(kNoLun)
// for a record that belongs to another resource, or a damaged one unless
// `allow_damaged`.
UpRole read_role(const redd::ResourceConfig &resource, std::uint32_t node_id,
                 bool allow_damaged = false);

// redctl up --force on the writer over a damaged record: writes a new
// record naming `node_id` the writer with no copiers, at an epoch above
// every epoch in the LUN's heartbeat slots, only while the block is still
// damaged.  Returns the new epoch; throws Failure(kNoLun).
std::uint64_t rewrite_damaged_record(const redd::ResourceConfig &resource, std::uint32_t node_id);

// Runs `/bin/sh -c command` with `env` added to the environment, its output
// on ours; returns its exit status (128+N for signal N), or throws
// Failure(kFailed) when it cannot be started.
int run_shell(const std::string &command, const std::vector<std::string> &env);

// The size in bytes of a block device; throws Failure(kNoLun) naming `what`.
std::uint64_t block_device_bytes(const std::string &path, const std::string &what);

// The index N of a zram device given as /dev/zramN or MAJOR:MINOR (through
// /sys/dev/block), or nullopt if it is not a zram device.
std::optional<int> zram_index(const std::string &device);

// Loads the zram module if /sys/class/zram-control is missing, then adds a
// device (hot_add) and returns its index.  Throws Failure(kFailed).
int zram_hot_add();
// Sets the disk size of zramN.  Throws Failure(kFailed).
void zram_set_disksize(int index, std::uint64_t bytes);
// Resets zramN (drops its contents); throws Failure(kFailed).
void zram_reset(int index);
// Removes zramN (hot_remove); throws Failure(kFailed).
void zram_hot_remove(int index);
// mm_stat's mem_used_total of zramN, or nullopt.
std::optional<std::uint64_t> zram_mem_used(int index);
// "/dev/zramN" once the node exists (waits up to a few seconds for it).
std::string zram_device_path(int index);

} // namespace redctl
