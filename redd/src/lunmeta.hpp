// The metadata redd keeps on the shared LUN itself, where every node can
// read it (Documentation/lun-metadata.rst):
//
//   LUN size - 1 MiB            end of the red devices (the reserved MiB)
//   LUN size - 256 KiB          the epoch record (4 KiB), written by the writer
//   LUN size - 256 KiB + 4 KiB*i  node i's heartbeat slot (4 KiB), i = 1..63
//
// The epoch record says which node is the writer at which epoch and which
// copiers are members of that epoch.  A writer's redd writes it (O_DIRECT,
// O_DSYNC) before its kernel moves to a new epoch, and re-reads it before
// every renewal of its write lease: a node that finds a newer epoch there
// than its own is no longer the writer.  A promotion writes it first.
//
// A node's slot is its disk heartbeat: a counter that advances on every
// write, its role and epoch, and whether it is in contact with the writer.
// Other nodes judge it alive while the counter moves (they time it with
// their own clocks: no clock is shared).
//
// Every block: magic, version, kind, CRC-32 over the block (with the CRC
// field zero).  A block that fails any check decodes as "none", with its
// reason: kBlank for a block of zeroes (never written: no record yet),
// anything else is damage.  A damaged record is never taken for an absent
// one: it could have named another writer.
//
// Every write of the record is conditional on the record its writer read
// (write_record_if): the generation check that keeps a writer's expel from
// overwriting a promoting copier's newer record.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "unique_fd.hpp"

namespace redd::lunmeta {

constexpr std::uint64_t kReservedBytes = 1024ULL * 1024ULL; // at the end of the LUN
constexpr std::uint64_t kAreaBytes = 256ULL * 1024ULL;      // the metadata, at its very end
constexpr std::size_t kBlock = 4096;
constexpr std::uint32_t kMaxNode = 63;
constexpr std::size_t kMaxMembers = 64;

using Block = std::array<std::uint8_t, kBlock>;

struct EpochRecord {
    std::string resource;
    std::uint64_t epoch = 0;
    std::uint32_t writer = 0;           // node id; 0: none
    bool resigned = false;              // the writer was demoted: nobody writes
    std::vector<std::uint32_t> members; // the copiers of that epoch
    std::uint64_t generation = 0;       // +1 on every write of the record
    bool operator==(const EpochRecord &) const = default;
};

enum class SlotRole : std::uint32_t { None = 0, Writer = 1, Copier = 2 };

struct NodeSlot {
    std::uint32_t node = 0;
    std::uint64_t counter = 0; // advances on every write
    SlotRole role = SlotRole::None;
    std::uint64_t epoch = 0;
    bool writer_contact = false;  // a writer: true; a copier: it holds a read lease
    std::uint64_t store_used = 0; // a copier's exceptions (chunks): its promotion score
    bool operator==(const NodeSlot &) const = default;
};

// Byte offsets on a LUN of `lun_bytes`.
std::uint64_t record_offset(std::uint64_t lun_bytes);
std::uint64_t slot_offset(std::uint64_t lun_bytes, std::uint32_t node);
// The largest red device (sectors) a LUN allows for a chunk size: the LUN
// but its reserved MiB, rounded down to whole chunks.
std::uint64_t device_sectors(std::uint64_t lun_bytes, std::uint32_t chunk_sectors);

Block encode(const EpochRecord &r);
Block encode(const NodeSlot &s);
// The reason decode_record and decode_slot give for a block of zeroes.
inline constexpr std::string_view kBlank = "blank";

// nullopt for a blank, foreign or damaged block (why in *error if given:
// kBlank, or what is wrong with it).
std::optional<EpochRecord> decode_record(std::span<const std::uint8_t> b,
                                         std::string *error = nullptr);
std::optional<NodeSlot> decode_slot(std::span<const std::uint8_t> b, std::string *error = nullptr);

std::uint32_t crc32(std::span<const std::uint8_t> data);

// The area on an open LUN (O_DIRECT, O_DSYNC: a write is on the LUN when it
// returns).  Throws std::system_error on I/O errors.
class Area {
public:
    explicit Area(const std::string &lun_path);
    [[nodiscard]] std::uint64_t lun_bytes() const { return lun_bytes_; }
    [[nodiscard]] std::optional<EpochRecord> read_record(std::string *error = nullptr) const;
    void write_record(const EpochRecord &r) const;
    // Writes `r` only if the LUN still holds `expected` (nullopt: a blank
    // block), every field equal, generation included.  With
    // `overwrite_damaged` a damaged block is replaced too (an operator's
    // explicit override; a valid record that differs never is).  Returns
    // false, having written nothing, with the LUN's record described in
    // *why.  The read and the write are two I/Os, not one atomic compare
    // and write: the check closes the window of a stale in-memory record,
    // not that of two writes within the same few milliseconds.
    bool write_record_if(const EpochRecord &r, const std::optional<EpochRecord> &expected,
                         bool overwrite_damaged, std::string *why = nullptr) const;
    [[nodiscard]] std::optional<NodeSlot> read_slot(std::uint32_t node) const;
    void write_slot(const NodeSlot &s) const;

private:
    void read_block(std::uint64_t offset, Block &out) const;
    void write_block(std::uint64_t offset, const Block &in) const;

    UniqueFd fd_;
    std::uint64_t lun_bytes_ = 0;
};

} // namespace redd::lunmeta
