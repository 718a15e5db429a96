#include "table.hpp"

#include <gtest/gtest.h>

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

TEST(Table, DeviceSectorsRoundDownToChunks) {
    EXPECT_EQ(device_sectors(64ULL << 20, 128), 131072U);
    EXPECT_EQ(device_sectors((64ULL << 20) + 51200, 128), 131072U);
    EXPECT_EQ(device_sectors(65024, 128), 0U);
    EXPECT_EQ(device_sectors(4096, 0), 0U);
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
    r.lease_policy = redd::LeasePolicy::Error; // a writer's only: not on a copier's line
    EXPECT_EQ(table_params(r, Role::Copier, "/dev/zram3"), "/dev/vdb /dev/zram3 128 copier pgdata");
}

TEST(Table, ParseTableRoundTrip) {
    auto args = parse_table_params(table_params(resource(), Role::Copier, "/dev/zram3"));
    ASSERT_TRUE(args);
    EXPECT_EQ(args->lun, "/dev/vdb");
    EXPECT_EQ(args->store, "/dev/zram3");
    EXPECT_EQ(args->chunk_sectors, 128U);
    EXPECT_EQ(args->role, "copier");
    EXPECT_EQ(args->resource, "pgdata");
    EXPECT_FALSE(parse_table_params("/dev/vdb - x writer r"));
    EXPECT_FALSE(parse_table_params("/dev/vdb - 8 writer"));
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
