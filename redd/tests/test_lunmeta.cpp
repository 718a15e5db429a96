#include "lunmeta.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

#include <unistd.h>

namespace redd::lunmeta {
namespace {

TEST(LunMeta, RecordRoundTrips) {
    EpochRecord r{"pg", 42, 2, false, {1, 3}, 7};
    const Block b = encode(r);
    std::string err;
    auto back = decode_record(b, &err);
    ASSERT_TRUE(back) << err;
    EXPECT_EQ(*back, r);
    r.resigned = true;
    r.members.clear();
    EXPECT_EQ(decode_record(encode(r)), r);
}

TEST(LunMeta, SlotRoundTrips) {
    NodeSlot s{3, 99, SlotRole::Copier, 12, true, 4096};
    EXPECT_EQ(decode_slot(encode(s)), s);
    // A slot is not a record and the other way round.
    EXPECT_FALSE(decode_record(encode(s)));
    EXPECT_FALSE(decode_slot(encode(EpochRecord{"pg", 1, 1, false, {}, 1})));
}

TEST(LunMeta, DamagedOrBlankBlocksReadAsNone) {
    Block blank{};
    std::string err;
    EXPECT_FALSE(decode_record(blank, &err));
    EXPECT_EQ(err, "blank");
    Block b = encode(EpochRecord{"pg", 5, 1, false, {2}, 1});
    b.at(100) ^= 1U; // one bit of the payload
    EXPECT_FALSE(decode_record(b, &err));
    EXPECT_EQ(err, "checksum mismatch");
    Block v = encode(EpochRecord{"pg", 5, 1, false, {2}, 1});
    v.at(8) = 2; // version
    EXPECT_FALSE(decode_record(v, &err));
    EXPECT_EQ(err, "unknown metadata version");
    Block junk{};
    junk.fill(0xA5);
    EXPECT_FALSE(decode_slot(junk, &err));
    EXPECT_EQ(err, "no dm-red metadata magic");
    // A sealed block claiming more members than fit is refused too.
    Block many = encode(EpochRecord{"pg", 5, 1, false, {2}, 1});
    many.at(112) = 200;
    many.at(16) = many.at(17) = many.at(18) = many.at(19) = 0;
    const std::uint32_t crc = crc32(many);
    for (int i = 0; i < 4; ++i) {
        many.at(16 + static_cast<std::size_t>(i)) = static_cast<std::uint8_t>(crc >> (8 * i));
    }
    EXPECT_FALSE(decode_record(many, &err));
    EXPECT_EQ(err, "too many members");
}

TEST(LunMeta, LayoutAtTheEndOfTheLun) {
    const std::uint64_t lun = 512ULL << 20U;
    EXPECT_EQ(record_offset(lun), lun - (256U << 10U));
    EXPECT_EQ(slot_offset(lun, 1), record_offset(lun) + 4096);
    EXPECT_EQ(slot_offset(lun, kMaxNode) + kBlock, lun);
    // Devices end 1 MiB before the LUN, in whole chunks.
    EXPECT_EQ(device_sectors(lun, 128), (lun - (1U << 20U)) / 512);
    EXPECT_EQ(device_sectors(lun + 4096, 128), (lun - (1U << 20U)) / 512);
    EXPECT_EQ(device_sectors(1U << 20U, 128), 0U);
    EXPECT_EQ(crc32(std::span<const std::uint8_t>{}), 0U);
    const std::array<std::uint8_t, 9> check{'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    EXPECT_EQ(crc32(check), 0xCBF43926U); // the CRC-32 check value
}

TEST(LunMeta, AreaOnAFile) {
    std::string name = "redd-lunmeta-XXXXXX"; // in the build directory: tmpfs has no O_DIRECT
    const int fd = mkstemp(name.data());
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 8 << 20), 0);
    close(fd);
    try {
        Area a(name);
        EXPECT_EQ(a.lun_bytes(), 8U << 20U);
        EXPECT_FALSE(a.read_record());
        const EpochRecord r{"pg", 3, 1, false, {2, 3}, 1};
        a.write_record(r);
        EXPECT_EQ(a.read_record(), r);
        a.write_slot(NodeSlot{2, 5, SlotRole::Copier, 3, true, 10});
        EXPECT_EQ(a.read_slot(2)->counter, 5U);
        EXPECT_FALSE(a.read_slot(3));
        EXPECT_FALSE(a.read_slot(0));
        EXPECT_THROW(a.write_slot(NodeSlot{64, 1, SlotRole::None, 0, false, 0}), std::system_error);
    } catch (const std::system_error &e) {
        // tmpfs has no O_DIRECT: nothing to test there.
        if (e.code().value() != EINVAL) {
            unlink(name.c_str());
            throw;
        }
    }
    unlink(name.c_str());
    const std::string tiny = name + "-tiny";
    std::ofstream(tiny).put('x');
    EXPECT_THROW(Area{tiny}, std::system_error);
    unlink(tiny.c_str());
}

// Issue 18 item 3: the writer's expel wrote the record from its in-memory
// copy, over whatever a promoting copier had written since.
TEST(LunMeta, RecordWritesAreConditionalOnTheRecordRead) {
    std::string name = "redd-lunmeta-if-XXXXXX"; // in the build directory: tmpfs has no O_DIRECT
    const int fd = mkstemp(name.data());
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, 8 << 20), 0);
    try {
        const Area a(name);
        std::string why;
        // A blank LUN: the first record is written only over a blank block.
        const EpochRecord first{"pg", 1, 1, false, {}, 1};
        EXPECT_TRUE(a.write_record_if(first, std::nullopt, false, &why)) << why;
        EXPECT_FALSE(a.write_record_if(first, std::nullopt, false, &why));
        EXPECT_NE(why.find("written meanwhile"), std::string::npos) << why;
        // The writer reads generation 2 (node 1 writer, copiers 2 and 3) ...
        const EpochRecord read{"pg", 4, 1, false, {2, 3}, 2};
        EXPECT_TRUE(a.write_record_if(read, first, false, &why)) << why;
        // ... node 2 promotes: epoch 5, writer 2, copier 3 ...
        const EpochRecord promoted{"pg", 5, 2, false, {3}, 3};
        EXPECT_TRUE(a.write_record_if(promoted, read, false, &why)) << why;
        // ... and the old writer's expel of node 3, from what it read, fails.
        const EpochRecord expel{"pg", 4, 1, false, {2}, 3};
        EXPECT_FALSE(a.write_record_if(expel, read, false, &why));
        EXPECT_NE(why.find("changed meanwhile: now epoch 5, writer 2"), std::string::npos) << why;
        EXPECT_EQ(a.read_record(), promoted);
        // Even the damaged-record override never replaces a valid record.
        EXPECT_FALSE(a.write_record_if(expel, read, true, &why));
        EXPECT_EQ(a.read_record(), promoted);

        // A damaged block: refused, unless overridden.
        std::array<char, 16> noise{};
        noise.fill('\x5a');
        ASSERT_EQ(
            pwrite(fd, noise.data(), noise.size(), static_cast<off_t>(record_offset(8 << 20))),
            static_cast<ssize_t>(noise.size()));
        ASSERT_EQ(fsync(fd), 0);
        EXPECT_FALSE(a.read_record(&why));
        EXPECT_EQ(why, "no dm-red metadata magic");
        const EpochRecord repaired{"pg", 6, 1, false, {}, 1};
        EXPECT_FALSE(a.write_record_if(repaired, promoted, false, &why));
        EXPECT_NE(why.find("damaged (no dm-red metadata magic)"), std::string::npos) << why;
        EXPECT_FALSE(a.write_record_if(repaired, std::nullopt, false, &why));
        EXPECT_TRUE(a.write_record_if(repaired, std::nullopt, true, &why)) << why;
        EXPECT_EQ(a.read_record(), repaired);

        // An erased block is not the record that was read.
        const Block zeroes{};
        ASSERT_EQ(
            pwrite(fd, zeroes.data(), zeroes.size(), static_cast<off_t>(record_offset(8 << 20))),
            static_cast<ssize_t>(zeroes.size()));
        ASSERT_EQ(fsync(fd), 0);
        EXPECT_FALSE(a.write_record_if(first, repaired, true, &why));
        EXPECT_NE(why.find("erased"), std::string::npos) << why;
    } catch (const std::system_error &e) {
        // tmpfs has no O_DIRECT: nothing to test there.
        if (e.code().value() != EINVAL) {
            close(fd);
            unlink(name.c_str());
            throw;
        }
    }
    close(fd);
    unlink(name.c_str());
}

} // namespace
} // namespace redd::lunmeta
