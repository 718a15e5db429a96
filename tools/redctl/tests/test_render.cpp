#include "render.hpp"

#include <gtest/gtest.h>

namespace redctl {
namespace {

using nlohmann::json;

ResourceView writer_view() {
    ResourceView v;
    v.name = "r0";
    v.role = Role::Writer;
    v.writer = 1;
    v.lun = "/dev/loop0";
    v.chunk_sectors = 64;
    v.store_bytes = 1 << 20;
    v.device.present = true;
    v.device.target = "red";
    v.device.table = parse_table_params("/dev/loop0 - 64 writer r0 2 lease_policy suspend");
    v.device.status =
        parse_status_params("writer active 3 0/0 16384/16384 0 0 0 812 0 0 14880 suspend");
    return v;
}

const json kRedd = json::parse(R"({"ok":true,"version":1,"node_id":1,
  "peers":[{"node":2,"address":"192.168.77.11:7788","connected":true}],
  "resources":[{"name":"r0","writer":1,"role":"writer",
    "device":{"present":true,"dm_name":"r0","state":"active","epoch":3},
    "members":[{"node":2,"state":"joined","lease_age_ms":120,"lease_left_ms":14880}],
    "lease":{"held":true,"left_ms":14880},
    "stats":{"stabilize":812,"chunks":9744,"ranges":830,"chunks_per_stabilize":12.0,
             "preserves":812,"preserve_errors":0,
             "rtt_us":{"count":812,"p50":2100,"p90":5000,"p99":8300,"max":12000,"window":812,
                       "histogram":[{"le_us":1024,"count":10},{"le_us":2048,"count":0},
                                    {"le_us":4096,"count":700}]}}}]})");

TEST(Render, MergeWithRedd) {
    const auto doc = merge_status(1, {writer_view()}, kRedd, "");
    EXPECT_EQ(doc["node_id"], 1);
    EXPECT_EQ(doc["redd"]["running"], true);
    EXPECT_EQ(doc["redd"]["peers"][0]["node"], 2);
    const auto &r = doc["resources"][0];
    EXPECT_EQ(r["name"], "r0");
    EXPECT_EQ(r["role"], "writer");
    EXPECT_EQ(r["state"], "active");
    EXPECT_EQ(r["epoch"], 3);
    EXPECT_EQ(r["kernel"]["present"], true);
    EXPECT_EQ(r["kernel"]["store"], "-");
    EXPECT_EQ(r["kernel"]["status"]["lease_left_ms"], 14880);
    EXPECT_EQ(r["redd"]["members"][0]["state"], "joined");
}

TEST(Render, MergeWithoutReddOrDevice) {
    auto v = writer_view();
    v.device = DeviceView{};
    const auto doc = merge_status(1, {v}, std::nullopt, "redd is not running (x)");
    EXPECT_EQ(doc["redd"]["running"], false);
    EXPECT_EQ(doc["redd"]["error"], "redd is not running (x)");
    EXPECT_EQ(doc["resources"][0]["state"], "down");
    EXPECT_EQ(doc["resources"][0]["kernel"]["present"], false);
    EXPECT_TRUE(doc["resources"][0]["redd"].is_null());
    const auto text = render_status(doc);
    EXPECT_NE(text.find("redd not running (redd is not running (x))"), std::string::npos) << text;
    EXPECT_NE(text.find("r0 role:writer state:down epoch:0"), std::string::npos) << text;
    EXPECT_NE(text.find("device: none"), std::string::npos) << text;
}

TEST(Render, HumanWriter) {
    const auto text = render_status(merge_status(1, {writer_view()}, kRedd, ""));
    for (const char *want : {
             "node 1: redd running\n",
             "  peer node 2 192.168.77.11:7788 connected\n",
             "r0 role:writer state:active epoch:3 writer:node-1 (configured)\n",
             "stable:16384/16384",
             "  node 2: joined lease-age:120ms lease-left:14880ms\n",
             "  write lease: held left:14880ms\n",
             "  stabilize: 812 requests, 9744 chunks in 830 ranges (12.0 chunks/stabilize)\n",
             "  round trip: 812 samples, p50 2.1ms, p90 5.0ms, p99 8.3ms, max 12.0ms\n",
             "  histogram: <=1.0ms:10 <=4.1ms:700\n",
         }) {
        EXPECT_NE(text.find(want), std::string::npos) << "missing '" << want << "' in\n" << text;
    }
}

TEST(Render, HumanCopierStore) {
    ResourceView v;
    v.name = "pg";
    v.role = Role::Copier;
    v.writer = 2;
    v.chunk_sectors = 8;
    v.device.present = true;
    v.device.open_count = 1;
    v.device.target = "red";
    v.device.table = parse_table_params("/dev/vdb /dev/zram1 8 copier pg");
    v.device.status =
        parse_status_params("copier joining 0 16384/65536 0/262144 0 0 0 9213 0 0 0 -");
    const auto text = render_status(merge_status(1, {v}, std::nullopt, "down"));
    EXPECT_NE(text.find("pg role:copier state:joining epoch:0 writer:node-2"), std::string::npos)
        << text;
    EXPECT_NE(text.find("open:1"), std::string::npos) << text;
    EXPECT_NE(text.find("store /dev/zram1: 16384/65536 chunks (25.0%) preserves:9213"),
              std::string::npos)
        << text;
}

TEST(Render, CopierMembershipAndDown) {
    ResourceView v;
    v.name = "c0";
    v.role = Role::Copier;
    v.writer = 2;
    const json reply = json::parse(R"({"ok":true,"resources":[{"name":"c0","role":"copier",
        "down":true,"membership":"left","lease":{"held":false,"left_ms":0}}]})");
    const auto text = render_status(merge_status(1, {v}, reply, ""));
    EXPECT_NE(text.find("  membership: left\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  redd: taken down (until the next up)\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  read lease: not held left:0ms\n"), std::string::npos) << text;
}

TEST(Render, ForeignDevice) {
    ResourceView v;
    v.name = "x";
    v.device.present = true;
    v.device.target = "linear";
    v.device.raw_status = "";
    const auto doc = merge_status(1, {v}, std::nullopt, "e");
    EXPECT_EQ(doc["resources"][0]["state"], "unknown");
    EXPECT_NE(render_status(doc).find("target:linear"), std::string::npos);
}

TEST(Render, Events) {
    EXPECT_EQ(render_event(json::parse(R"({"type":"exists-done"})")), "exists-done");
    EXPECT_EQ(render_event(json::parse(
                  R"({"type":"exists","name":"r0","role":"writer",
                      "device":{"present":true,"state":"active","epoch":3},
                      "members":[{"node":2,"state":"joined"}]})")),
              "exists r0 role:writer state:active epoch:3 node-2:joined");
    EXPECT_EQ(render_event(json::parse(R"({"type":"exists","name":"r0","role":"copier",
                                           "writer":2,"device":{"present":false}})")),
              "exists r0 role:copier writer:node-2 device:none");
    EXPECT_EQ(render_event(json::parse(R"({"type":"exists","name":"r1","role":"copier",
                                           "device":{"present":false}})")),
              "exists r1 role:copier device:none");
    EXPECT_EQ(render_event(json::parse(
                  R"({"type":"event","time":"2026-11-21T08:00:00.123Z","resource":"r0",
                      "what":"member-joined","node":2,"epoch":3})")),
              "2026-11-21T08:00:00.123Z r0 member-joined epoch:3 node:2");
    EXPECT_EQ(render_event(json::parse(R"({"type":"event","time":"t","what":"peer-rejected",
                                           "reason":"bad key"})")),
              "t - peer-rejected reason:bad key");
    EXPECT_EQ(render_event(json::parse(R"({"type":"new"})")), R"({"type":"new"})");
}

const json kCopierRedd = json::parse(R"({"ok":true,"resources":[{"name":"pg","writer":2,
    "role":"copier","membership":"member","lease":{"held":false,"left_ms":0},
    "lun":{"readable":true,"epoch":5,"writer":2,"resigned":false,"members":[1,3],
           "generation":11,
           "nodes":[{"node":2,"alive":false,"silent_ms":31000,"role":"writer","epoch":5,
                     "writer_contact":true,"store_used":0}]},
    "fenced":false,"expelled":false,
    "promotion":{"score":1234,"eligible":false,
                 "why":"node 2 still grants this copier its read lease (900 ms left): the writer is alive"},
    "promoting":{"epoch":6,"members":[3],"accepted":false,"fence_wait_left_ms":4100}}]})");

ResourceView copier_view() {
    ResourceView v;
    v.name = "pg";
    v.role = Role::Copier;
    v.role_source = RoleSource::Lun;
    v.writer = 2;
    v.chunk_sectors = 8;
    return v;
}

TEST(Render, LunRecordPromotionFromRedd) {
    const auto doc = merge_status(1, {copier_view()}, kCopierRedd, "");
    const auto &r = doc["resources"][0];
    EXPECT_EQ(r["writer"], 2);
    EXPECT_EQ(r["role_source"], "lun");
    // redd's new fields pass through unchanged
    EXPECT_EQ(r["redd"]["lun"]["generation"], 11);
    EXPECT_EQ(r["redd"]["promotion"]["score"], 1234);
    EXPECT_EQ(r["redd"]["promoting"]["fence_wait_left_ms"], 4100);
    const auto text = render_status(doc);
    for (const char *want : {
             "pg role:copier state:down epoch:0 writer:node-2\n",
             "  lun record: epoch:5 writer:node-2 members:node-1,node-3 generation:11\n",
             "  lun node 2: silent silent:31000ms role:writer epoch:5 writer-contact:yes "
             "store-used:0\n",
             "  promotion: score 1234 (store chunks; smaller promotes faster) not eligible: node 2 "
             "still grants",
             "  promoting: epoch 6 copiers:node-3 accepted:no fence-wait-left:4100ms\n",
         }) {
        EXPECT_NE(text.find(want), std::string::npos) << "missing '" << want << "' in\n" << text;
    }
    EXPECT_EQ(text.find("FENCED"), std::string::npos) << text;
}

TEST(Render, WriterFromReddWinsAndFencedShows) {
    auto v = copier_view();
    v.role = Role::Writer;
    v.writer = 1; // redctl read the LUN before redd saw node 2's record
    auto reply = kCopierRedd;
    reply["resources"][0]["fenced"] = true;
    reply["resources"][0]["lun"]["resigned"] = true;
    const auto doc = merge_status(1, {v}, reply, "");
    EXPECT_EQ(doc["resources"][0]["writer"], 2);
    const auto text = render_status(doc);
    EXPECT_NE(text.find("writer:node-2 (resigned)"), std::string::npos) << text;
    EXPECT_NE(text.find("  FENCED: "), std::string::npos) << text;
}

TEST(Render, LunRecordWithoutRedd) {
    auto v = copier_view();
    v.lun_record = json{{"readable", true},
                        {"record",
                         {{"resource", "pg"},
                          {"epoch", 4},
                          {"writer", 2},
                          {"resigned", true},
                          {"members", json::array()},
                          {"generation", 3}}}};
    auto text = render_status(merge_status(1, {v}, std::nullopt, "down"));
    EXPECT_NE(text.find("  lun record: epoch:4 writer:node-2 (resigned) members:none "
                        "generation:3\n"),
              std::string::npos)
        << text;
    v.role_source = RoleSource::Config;
    v.lun_record = json{{"readable", false}, {"error", "open /dev/x: EIO"}, {"record", nullptr}};
    text = render_status(merge_status(1, {v}, std::nullopt, "down"));
    EXPECT_NE(text.find("writer:node-2 (configured)\n"), std::string::npos) << text;
    EXPECT_NE(text.find("  lun record: unreadable (open /dev/x: EIO)\n"), std::string::npos)
        << text;
    v.lun_record = json{{"readable", true}, {"record", nullptr}};
    text = render_status(merge_status(1, {v}, std::nullopt, "down"));
    EXPECT_NE(text.find("  lun record: none (role from the configuration)\n"), std::string::npos)
        << text;
}

TEST(Render, PromoteProgress) {
    auto held = parse_status_params("copier held 5 120/4096 0/16384 2 0 0 0 0 0 0 suspend");
    EXPECT_EQ(render_promote_progress(held, 1200000, 3000),
              "[1.2s] copier held epoch:5 fencing wait:3000ms left");
    EXPECT_EQ(render_promote_progress(held, 1200000, -5), "[1.2s] copier held epoch:5");
    auto wb = parse_status_params("writer writeback 6 77/4096 0/16384 0 0 0 0 0 0 9000 suspend");
    EXPECT_EQ(render_promote_progress(wb, 2500000, 0),
              "[2.5s] writer writeback epoch:6 store chunks left:77/4096");
    EXPECT_EQ(render_promote_progress(std::nullopt, 10, 0), "[10us] no device status");
}

TEST(Render, Units) {
    EXPECT_EQ(format_us(850), "850us");
    EXPECT_EQ(format_us(2100), "2.1ms");
    EXPECT_EQ(format_us(1250000), "1.2s");
    EXPECT_EQ(format_bytes(512), "512 B");
    EXPECT_EQ(format_bytes(12 * 1024 * 1024 + 300 * 1024), "12.3 MiB");
    EXPECT_EQ(format_bytes(1ULL << 30), "1.0 GiB");
}

} // namespace
} // namespace redctl
