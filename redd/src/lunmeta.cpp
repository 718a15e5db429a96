#include "lunmeta.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace redd::lunmeta {

namespace {

// Layout (little endian).  Common header:
constexpr std::size_t kOffMagic = 0;     // 8 bytes "REDMETA\0"
constexpr std::size_t kOffVersion = 8;   // u32, 1
constexpr std::size_t kOffKind = 12;     // u32
constexpr std::size_t kOffCrc = 16;      // u32, over the block with this field 0
constexpr std::size_t kOffResource = 24; // 64 bytes, NUL padded
constexpr std::size_t kResourceLen = 64;
// Record:
constexpr std::size_t kOffEpoch = 88;      // u64
constexpr std::size_t kOffGeneration = 96; // u64
constexpr std::size_t kOffWriter = 104;    // u32
constexpr std::size_t kOffFlags = 108;     // u32, bit 0 resigned
constexpr std::size_t kOffNMembers = 112;  // u32
constexpr std::size_t kOffMembers = 116;   // u32[kMaxMembers]
// Slot:
constexpr std::size_t kOffNode = 88;       // u32
constexpr std::size_t kOffRole = 92;       // u32
constexpr std::size_t kOffCounter = 96;    // u64
constexpr std::size_t kOffSlotEpoch = 104; // u64
constexpr std::size_t kOffSlotFlags = 112; // u32, bit 0 writer_contact
constexpr std::size_t kOffStoreUsed = 120; // u64

constexpr std::array<std::uint8_t, 8> kMagic{'R', 'E', 'D', 'M', 'E', 'T', 'A', 0};
constexpr std::uint32_t kVersion = 1;
constexpr std::uint32_t kKindRecord = 1;
constexpr std::uint32_t kKindSlot = 2;

void put(Block &b, std::size_t off, std::uint64_t v, int width) {
    for (int i = 0; i < width; ++i) {
        b.at(off + static_cast<std::size_t>(i)) =
            static_cast<std::uint8_t>(v >> (8U * static_cast<unsigned>(i)));
    }
}

std::uint64_t get(std::span<const std::uint8_t> b, std::size_t off, int width) {
    std::uint64_t v = 0;
    for (int i = 0; i < width; ++i) {
        v |= static_cast<std::uint64_t>(b[off + static_cast<std::size_t>(i)])
             << (8U * static_cast<unsigned>(i));
    }
    return v;
}

Block header(std::uint32_t kind, const std::string &resource) {
    Block b{};
    std::copy(kMagic.begin(), kMagic.end(), b.begin() + kOffMagic);
    put(b, kOffVersion, kVersion, 4);
    put(b, kOffKind, kind, 4);
    const std::size_t n = std::min(resource.size(), kResourceLen - 1);
    std::copy_n(resource.begin(), n, b.begin() + kOffResource);
    return b;
}

void seal(Block &b) {
    put(b, kOffCrc, 0, 4);
    put(b, kOffCrc, crc32(b), 4);
}

bool check(std::span<const std::uint8_t> b, std::uint32_t kind, std::string *error) {
    auto fail = [error](std::string_view why) {
        if (error != nullptr) {
            *error = std::string(why);
        }
        return false;
    };
    if (b.size() != kBlock) {
        return fail("not a 4 KiB block");
    }
    if (!std::equal(kMagic.begin(), kMagic.end(), b.begin() + kOffMagic)) {
        return fail(std::all_of(b.begin(), b.end(), [](std::uint8_t c) { return c == 0; })
                        ? kBlank
                        : std::string_view("no dm-red metadata magic"));
    }
    if (get(b, kOffVersion, 4) != kVersion) {
        return fail("unknown metadata version");
    }
    if (get(b, kOffKind, 4) != kind) {
        return fail("wrong block kind");
    }
    Block copy{};
    std::copy(b.begin(), b.end(), copy.begin());
    put(copy, kOffCrc, 0, 4);
    if (crc32(copy) != get(b, kOffCrc, 4)) {
        return fail("checksum mismatch");
    }
    return true;
}

std::string resource_of(std::span<const std::uint8_t> b) {
    const auto *first = b.data() + kOffResource;
    const auto *last = std::find(first, first + kResourceLen, std::uint8_t{0});
    return {first, last};
}

struct FreeDeleter {
    void operator()(void *p) const { std::free(p); } // NOLINT(cppcoreguidelines-no-malloc)
};

// An O_DIRECT-aligned bounce buffer.
std::unique_ptr<std::uint8_t, FreeDeleter> aligned_block() {
    void *p = nullptr;
    if (posix_memalign(&p, kBlock, kBlock) != 0) {
        throw std::bad_alloc();
    }
    return std::unique_ptr<std::uint8_t, FreeDeleter>(static_cast<std::uint8_t *>(p));
}

} // namespace

std::uint32_t crc32(std::span<const std::uint8_t> data) {
    std::uint32_t crc = 0xFFFFFFFFU;
    for (std::uint8_t byte : data) {
        crc ^= byte;
        for (int k = 0; k < 8; ++k) {
            crc = (crc >> 1U) ^ (0xEDB88320U & (0U - (crc & 1U)));
        }
    }
    return ~crc;
}

std::uint64_t record_offset(std::uint64_t lun_bytes) {
    return lun_bytes - kAreaBytes;
}

std::uint64_t slot_offset(std::uint64_t lun_bytes, std::uint32_t node) {
    return record_offset(lun_bytes) + kBlock * static_cast<std::uint64_t>(node);
}

std::uint64_t device_sectors(std::uint64_t lun_bytes, std::uint32_t chunk_sectors) {
    if (lun_bytes <= kReservedBytes || chunk_sectors == 0) {
        return 0;
    }
    const std::uint64_t sectors = (lun_bytes - kReservedBytes) / 512;
    return sectors - sectors % chunk_sectors;
}

Block encode(const EpochRecord &r) {
    Block b = header(kKindRecord, r.resource);
    put(b, kOffEpoch, r.epoch, 8);
    put(b, kOffGeneration, r.generation, 8);
    put(b, kOffWriter, r.writer, 4);
    put(b, kOffFlags, r.resigned ? 1U : 0U, 4);
    const std::size_t n = std::min(r.members.size(), kMaxMembers);
    put(b, kOffNMembers, n, 4);
    for (std::size_t i = 0; i < n; ++i) {
        put(b, kOffMembers + 4 * i, r.members[i], 4);
    }
    seal(b);
    return b;
}

Block encode(const NodeSlot &s) {
    Block b = header(kKindSlot, "");
    put(b, kOffNode, s.node, 4);
    put(b, kOffRole, static_cast<std::uint32_t>(s.role), 4);
    put(b, kOffCounter, s.counter, 8);
    put(b, kOffSlotEpoch, s.epoch, 8);
    put(b, kOffSlotFlags, s.writer_contact ? 1U : 0U, 4);
    put(b, kOffStoreUsed, s.store_used, 8);
    seal(b);
    return b;
}

std::optional<EpochRecord> decode_record(std::span<const std::uint8_t> b, std::string *error) {
    if (!check(b, kKindRecord, error)) {
        return std::nullopt;
    }
    EpochRecord r;
    r.resource = resource_of(b);
    r.epoch = get(b, kOffEpoch, 8);
    r.generation = get(b, kOffGeneration, 8);
    r.writer = static_cast<std::uint32_t>(get(b, kOffWriter, 4));
    r.resigned = (get(b, kOffFlags, 4) & 1U) != 0;
    const std::uint64_t n = get(b, kOffNMembers, 4);
    if (n > kMaxMembers) {
        if (error != nullptr) {
            *error = "too many members";
        }
        return std::nullopt;
    }
    for (std::size_t i = 0; i < n; ++i) {
        r.members.push_back(static_cast<std::uint32_t>(get(b, kOffMembers + 4 * i, 4)));
    }
    return r;
}

std::optional<NodeSlot> decode_slot(std::span<const std::uint8_t> b, std::string *error) {
    if (!check(b, kKindSlot, error)) {
        return std::nullopt;
    }
    NodeSlot s;
    s.node = static_cast<std::uint32_t>(get(b, kOffNode, 4));
    const auto role = get(b, kOffRole, 4);
    if (role > 2) {
        if (error != nullptr) {
            *error = "unknown role";
        }
        return std::nullopt;
    }
    s.role = static_cast<SlotRole>(role);
    s.counter = get(b, kOffCounter, 8);
    s.epoch = get(b, kOffSlotEpoch, 8);
    s.writer_contact = (get(b, kOffSlotFlags, 4) & 1U) != 0;
    s.store_used = get(b, kOffStoreUsed, 8);
    return s;
}

Area::Area(const std::string &lun_path)
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): open(2)
    : fd_(::open(lun_path.c_str(), O_RDWR | O_DIRECT | O_DSYNC | O_CLOEXEC)) {
    if (!fd_.valid()) {
        throw std::system_error(errno, std::generic_category(), "open " + lun_path);
    }
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) {
        throw std::system_error(errno, std::generic_category(), "fstat " + lun_path);
    }
    if (S_ISBLK(st.st_mode)) {
        std::uint64_t bytes = 0;
        // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): ioctl(2)
        if (::ioctl(fd_.get(), BLKGETSIZE64, &bytes) != 0) {
            throw std::system_error(errno, std::generic_category(), "BLKGETSIZE64 " + lun_path);
        }
        lun_bytes_ = bytes;
    } else {
        lun_bytes_ = static_cast<std::uint64_t>(st.st_size);
    }
    if (lun_bytes_ < 2 * kReservedBytes) {
        throw std::system_error(EINVAL, std::generic_category(),
                                lun_path + ": too small for dm-red (needs more than 2 MiB)");
    }
}

void Area::read_block(std::uint64_t offset, Block &out) const {
    auto buf = aligned_block();
    const ssize_t n = ::pread(fd_.get(), buf.get(), kBlock, static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(kBlock)) {
        throw std::system_error(n < 0 ? errno : EIO, std::generic_category(),
                                "read of the LUN metadata");
    }
    std::memcpy(out.data(), buf.get(), kBlock);
}

void Area::write_block(std::uint64_t offset, const Block &in) const {
    auto buf = aligned_block();
    std::memcpy(buf.get(), in.data(), kBlock);
    const ssize_t n = ::pwrite(fd_.get(), buf.get(), kBlock, static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(kBlock)) {
        throw std::system_error(n < 0 ? errno : EIO, std::generic_category(),
                                "write of the LUN metadata");
    }
}

std::optional<EpochRecord> Area::read_record(std::string *error) const {
    Block b{};
    read_block(record_offset(lun_bytes_), b);
    return decode_record(b, error);
}

void Area::write_record(const EpochRecord &r) const {
    write_block(record_offset(lun_bytes_), encode(r));
}

bool Area::write_record_if(const EpochRecord &r, const std::optional<EpochRecord> &expected,
                           bool overwrite_damaged, std::string *why) const {
    std::string error;
    const auto now = read_record(&error);
    auto refuse = [why](std::string text) {
        if (why != nullptr) {
            *why = std::move(text);
        }
        return false;
    };
    auto describe = [](const EpochRecord &x) {
        return "epoch " + std::to_string(x.epoch) + ", writer " + std::to_string(x.writer) +
               (x.resigned ? " (resigned)" : "") + ", generation " + std::to_string(x.generation);
    };
    if (now) {
        if (!expected) {
            return refuse("a record was written meanwhile (" + describe(*now) +
                          ") where this node read none");
        }
        if (*now != *expected) {
            return refuse("the record changed meanwhile: now " + describe(*now) + "; read " +
                          describe(*expected));
        }
    } else if (error == kBlank) {
        if (expected) {
            return refuse("the record was erased meanwhile (the block is blank; read " +
                          describe(*expected) + ")");
        }
    } else if (!overwrite_damaged) {
        return refuse("the record is damaged (" + error + ")");
    }
    write_record(r);
    return true;
}

std::optional<NodeSlot> Area::read_slot(std::uint32_t node) const {
    if (node == 0 || node > kMaxNode) {
        return std::nullopt;
    }
    Block b{};
    read_block(slot_offset(lun_bytes_, node), b);
    auto s = decode_slot(b);
    if (s && s->node != node) {
        return std::nullopt;
    }
    return s;
}

void Area::write_slot(const NodeSlot &s) const {
    if (s.node == 0 || s.node > kMaxNode) {
        throw std::system_error(EINVAL, std::generic_category(), "node id out of the slot range");
    }
    write_block(slot_offset(lun_bytes_, s.node), encode(s));
}

} // namespace redd::lunmeta
