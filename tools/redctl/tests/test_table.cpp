#include "table.hpp"

#include <gtest/gtest.h>

#include <span>
#include <string>

namespace redctl {
namespace {

redd::ResourceConfig resource() {
    redd::ResourceConfig r;
    r.name = "pgdata";
    r.lun = "/dev/vdb";
    r.chunk_sectors = 128;
    r.store_bytes = 1ULL << 30;
    r.writer = 1;
    return r;
}

TEST(Table, LocalRole) {
    EXPECT_EQ(local_role(resource(), 1), Role::Writer);
    EXPECT_EQ(local_role(resource(), 2), Role::Copier);
}

TEST(Table, DeviceSectorsEndOneMiBBeforeTheLun) {
    // 64 MiB LUN: 63 MiB = 129024 sectors, a whole number of 128-sector chunks.
    EXPECT_EQ(device_sectors(64ULL << 20, 128), 129024U);
    EXPECT_EQ(device_sectors((64ULL << 20) + 51200, 128), 129024U); // 100 sectors more
    EXPECT_EQ(device_sectors((64ULL << 20) + 65536, 128), 129024U + 128U);
    // the last MiB is never covered
    EXPECT_LE(device_sectors(64ULL << 20, 8) * 512, (64ULL << 20) - (1ULL << 20));
    EXPECT_EQ(device_sectors(1ULL << 20, 8), 0U);             // only the reserved MiB
    EXPECT_EQ(device_sectors((1ULL << 20) + 65024, 128), 0U); // less than a chunk after it
    EXPECT_EQ(device_sectors(4ULL << 20, 0), 0U);
}

redd::lunmeta::EpochRecord record(std::uint32_t writer, bool resigned) {
    redd::lunmeta::EpochRecord rec;
    rec.resource = "pgdata";
    rec.epoch = 7;
    rec.writer = writer;
    rec.resigned = resigned;
    rec.members = {3};
    rec.generation = 9;
    return rec;
}

TEST(Table, RoleFromTheConfigWithoutARecord) {
    const auto d = decide_role(resource(), 1, std::nullopt);
    EXPECT_EQ(d.role, Role::Writer);
    EXPECT_EQ(d.writer, 1U);
    EXPECT_EQ(d.source, RoleSource::Config);
    EXPECT_EQ(decide_role(resource(), 2, std::nullopt).role, Role::Copier);
}

TEST(Table, RoleFromTheLunRecord) {
    // configured writer 1, but the LUN names node 2 (a promotion happened)
    auto d = decide_role(resource(), 1, record(2, false));
    EXPECT_EQ(d.role, Role::Copier);
    EXPECT_EQ(d.writer, 2U);
    EXPECT_EQ(d.source, RoleSource::Lun);
    EXPECT_EQ(decide_role(resource(), 2, record(2, false)).role, Role::Writer);
    // a writer that resigned is still the writer when it comes up again
    EXPECT_EQ(decide_role(resource(), 2, record(2, true)).role, Role::Writer);
    EXPECT_EQ(decide_role(resource(), 1, record(2, true)).role, Role::Copier);
    // another resource's record, or one naming no writer: the configuration
    auto foreign = record(2, false);
    foreign.resource = "other";
    EXPECT_EQ(decide_role(resource(), 1, foreign).source, RoleSource::Config);
    EXPECT_EQ(decide_role(resource(), 1, foreign).role, Role::Writer);
    EXPECT_EQ(decide_role(resource(), 1, record(0, false)).source, RoleSource::Config);
    EXPECT_EQ(to_string(RoleSource::Lun), "lun");
}

// What `up` does with the record block as read (issue 18 item 2): the
// configuration names node 1 the writer; the record names node 2.
UpRole up_from_block(std::span<const std::uint8_t> block, std::uint32_t node, bool force) {
    std::string why;
    const auto rec = redd::lunmeta::decode_record(block, &why);
    return role_for_up(resource(), node, rec, why, force);
}

TEST(Table, UpOnABlankLunFollowsTheConfiguration) {
    const redd::lunmeta::Block blank{};
    const auto up = up_from_block(blank, 1, false);
    EXPECT_TRUE(up.refusal.empty());
    EXPECT_TRUE(up.damaged.empty());
    EXPECT_EQ(up.decision.role, Role::Writer);
    EXPECT_EQ(up.decision.source, RoleSource::Config);
}

TEST(Table, UpFollowsAValidRecord) {
    const auto up = up_from_block(redd::lunmeta::encode(record(2, false)), 1, false);
    EXPECT_TRUE(up.refusal.empty());
    EXPECT_EQ(up.decision.role, Role::Copier);
    EXPECT_EQ(up.decision.source, RoleSource::Lun);
}

TEST(Table, UpRefusesAnotherResourcesRecordEvenForced) {
    auto other = record(2, false);
    other.resource = "other";
    const auto up = up_from_block(redd::lunmeta::encode(other), 1, true);
    EXPECT_NE(up.refusal.find("belongs to resource 'other'"), std::string::npos);
}

// Every single damaged byte of a record that names node 2 (a flip of each
// bit pattern's low bit, then of all its bits) must refuse: never the
// configuration's writer, node 1 (two writers).
TEST(Table, UpRefusesEveryDamagedRecord) {
    const auto good = redd::lunmeta::encode(record(2, false));
    for (const std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0xff}}) {
        for (std::size_t i = 0; i < good.size(); ++i) {
            auto bad = good;
            bad.at(i) ^= mask;
            const auto up = up_from_block(bad, 1, false);
            ASSERT_FALSE(up.refusal.empty()) << "byte " << i << " mask " << int{mask};
            EXPECT_NE(up.refusal.find("is damaged"), std::string::npos) << up.refusal;
        }
    }
}

TEST(Table, UpRefusesRandomBytesAndOtherBlockKinds) {
    redd::lunmeta::Block noise{};
    std::uint32_t x = 2463534242U;
    for (auto &b : noise) {
        x ^= x << 13U;
        x ^= x >> 17U;
        x ^= x << 5U;
        b = static_cast<std::uint8_t>(x);
    }
    EXPECT_NE(up_from_block(noise, 1, false).refusal.find("no dm-red metadata magic"),
              std::string::npos);
    const auto slot = redd::lunmeta::encode(
        redd::lunmeta::NodeSlot{2, 5, redd::lunmeta::SlotRole::Writer, 7, true, 0});
    EXPECT_NE(up_from_block(slot, 1, false).refusal.find("wrong block kind"), std::string::npos);
    auto truncated = redd::lunmeta::encode(record(2, false));
    EXPECT_FALSE(up_from_block(std::span(truncated).first(512), 1, false).refusal.empty());
}

TEST(Table, UpForcedOverADamagedRecordFollowsTheConfiguration) {
    auto bad = redd::lunmeta::encode(record(2, false));
    bad.at(100) ^= 0x40;
    const auto writer = up_from_block(bad, 1, true);
    EXPECT_TRUE(writer.refusal.empty());
    EXPECT_EQ(writer.damaged, "checksum mismatch");
    EXPECT_EQ(writer.decision.role, Role::Writer);
    EXPECT_EQ(writer.decision.source, RoleSource::Config);
    EXPECT_EQ(up_from_block(bad, 3, true).decision.role, Role::Copier);
}

TEST(Table, RecordJson) {
    const auto j = to_json(record(2, true));
    EXPECT_EQ(j["writer"], 2);
    EXPECT_EQ(j["resigned"], true);
    EXPECT_EQ(j["members"], nlohmann::json::array({3}));
    EXPECT_EQ(j["generation"], 9);
}

TEST(Table, WriterLine) {
    auto r = resource();
    EXPECT_EQ(table_params(r, Role::Writer, "/dev/zram9"),
              "/dev/vdb - 128 writer pgdata 2 lease_policy suspend");
    r.lease_policy = redd::LeasePolicy::Error;
    EXPECT_EQ(table_params(r, Role::Writer, "-"),
              "/dev/vdb - 128 writer pgdata 2 lease_policy error");
}

TEST(Table, CopierLine) {
    auto r = resource();
    EXPECT_EQ(table_params(r, Role::Copier, "/dev/zram3"),
              "/dev/vdb /dev/zram3 128 copier pgdata 2 lease_policy suspend");
    r.lease_policy = redd::LeasePolicy::Error; // the read lease's policy
    EXPECT_EQ(table_params(r, Role::Copier, "/dev/zram3"),
              "/dev/vdb /dev/zram3 128 copier pgdata 2 lease_policy error");
}

TEST(Table, ParseTableRoundTrip) {
    auto args = parse_table_params(table_params(resource(), Role::Copier, "/dev/zram3"));
    ASSERT_TRUE(args);
    EXPECT_EQ(args->lun, "/dev/vdb");
    EXPECT_EQ(args->store, "/dev/zram3");
    EXPECT_EQ(args->chunk_sectors, 128U);
    EXPECT_EQ(args->role, "copier");
    EXPECT_EQ(args->resource, "pgdata");
    EXPECT_EQ(args->lease_policy, "suspend");
    auto old = parse_table_params("/dev/vdb /dev/zram3 128 copier pgdata"); // no features
    ASSERT_TRUE(old);
    EXPECT_EQ(old->lease_policy, "");
    EXPECT_FALSE(parse_table_params("/dev/vdb - x writer r"));
    EXPECT_FALSE(parse_table_params("/dev/vdb - 8 writer"));
    EXPECT_FALSE(parse_table_params("/dev/vdb - 8 writer r 2 lease_policy"));       // count
    EXPECT_FALSE(parse_table_params("/dev/vdb - 8 writer r 1 lease_policy error")); // count
    EXPECT_FALSE(parse_table_params("/dev/vdb - 8 writer r 2 frob error"));         // feature
    EXPECT_FALSE(parse_table_params("/dev/vdb - 8 writer r x"));                    // count
    EXPECT_FALSE(parse_table_params("/dev/vdb - 8 writer r 2 stabilize_ahead x"));  // value
}

TEST(Table, StabilizeAhead) {
    auto r = resource();
    r.stabilize_ahead = 64;
    const auto line = table_params(r, Role::Writer, "-");
    EXPECT_EQ(line, "/dev/vdb - 128 writer pgdata 4 lease_policy suspend stabilize_ahead 64");
    auto args = parse_table_params(line);
    ASSERT_TRUE(args);
    EXPECT_EQ(args->stabilize_ahead, 64U);
    EXPECT_EQ(args->lease_policy, "suspend");
    EXPECT_EQ(table_params(r, Role::Copier, "/dev/zram3"),
              "/dev/vdb /dev/zram3 128 copier pgdata 4 lease_policy suspend stabilize_ahead 64");
}

TEST(Table, ParseWriterStatus) {
    auto s = parse_status_params("writer active 2 0/0 9213/262144 1 2 30 9213 0 4 3520 error");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->role, "writer");
    EXPECT_EQ(s->state, "active");
    EXPECT_EQ(s->epoch, 2U);
    EXPECT_EQ(s->store_used, 0U);
    EXPECT_EQ(s->stable, 9213U);
    EXPECT_EQ(s->nr_chunks, 262144U);
    EXPECT_EQ(s->held, 1U);
    EXPECT_EQ(s->outstanding, 2U);
    EXPECT_EQ(s->oldest_ms, 30U);
    EXPECT_EQ(s->preserves, 9213U);
    EXPECT_EQ(s->cow, 0U);
    EXPECT_EQ(s->errors, 4U);
    EXPECT_EQ(s->lease_left_ms, 3520U);
    EXPECT_EQ(s->policy, "error");
    auto j = to_json(*s);
    EXPECT_EQ(j["epoch"], 2);
    EXPECT_EQ(j["lease_policy"], "error");
}

TEST(Table, ParseCopierStatus) {
    auto s = parse_status_params("copier joining 0 17/65536 0/262144 0 0 0 9213 5 0 0 -\n");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->state, "joining");
    EXPECT_EQ(s->store_used, 17U);
    EXPECT_EQ(s->store_total, 65536U);
    EXPECT_EQ(s->cow, 5U);
    EXPECT_EQ(s->policy, "-");
}

TEST(Table, ParseBadStatus) {
    EXPECT_FALSE(parse_status_params(""));
    EXPECT_FALSE(parse_status_params("writer active 2 0/0 9/8 0 0 0 0 0 0 0"));     // 12 fields
    EXPECT_FALSE(parse_status_params("writer active 2 0/0 9/8 0 0 0 0 0 0 0 - x")); // 14
    EXPECT_FALSE(parse_status_params("writer active -2 0/0 9/8 0 0 0 0 0 0 0 -"));  // sign
    EXPECT_FALSE(parse_status_params("writer active 2 0-0 9/8 0 0 0 0 0 0 0 -"));   // pair
    EXPECT_FALSE(parse_status_params("writer active 2 0/0 9/ 0 0 0 0 0 0 0 -"));    // pair
    EXPECT_FALSE(parse_status_params("linear active 2 0/0 9/8 0 0 0 0 0 0 0 -"));   // role
    EXPECT_FALSE(parse_status_params("writer active 2 0/0 9/8 0 0 0 0 0 0 99999999999999999999 -"));
}

} // namespace
} // namespace redctl
