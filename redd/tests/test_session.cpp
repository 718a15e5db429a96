#include "session.hpp"

#include <gtest/gtest.h>

#include <map>

namespace redd {
namespace {

Nonce filled(std::uint8_t v) {
    Nonce n{};
    n.fill(v);
    return n;
}

HandshakeParams params(std::uint32_t id, const std::string &key) {
    HandshakeParams p;
    p.own_id = id;
    p.key = SecretKey(Bytes(key.begin(), key.end()));
    return p;
}

Bytes concat(const std::vector<Bytes> &frames) {
    Bytes out;
    for (const auto &f : frames) {
        out.insert(out.end(), f.begin(), f.end());
    }
    return out;
}

Frame resource_frame(Payload payload, std::uint64_t epoch, const std::string &resource = "pg") {
    Frame f;
    f.resource = resource;
    f.epoch = epoch;
    f.request_id = 1;
    f.payload = std::move(payload);
    return f;
}

// Two sessions wired back to back; the responder knows resource "pg" at epoch 5.
class Sessions : public ::testing::Test {
protected:
    explicit Sessions(const std::string &responder_key = "a shared secret!")
        : a(Handshake::initiator(params(1, "a shared secret!"), filled(1)), epochs()),
          b(Handshake::responder(params(2, responder_key), filled(2), cache), epochs()) {}

    static PeerSession::EpochOf epochs() {
        return [](std::string_view r) -> std::optional<std::uint64_t> {
            if (r == "pg") {
                return 5;
            }
            return std::nullopt;
        };
    }

    // Shuttles bytes until both are quiet, feeding one byte at a time to
    // exercise reassembly.  Returns what b delivered; the last close reasons
    // land in a_closed / b_closed.
    std::vector<Frame> pump(Bytes to_b) {
        std::vector<Frame> delivered;
        for (int round = 0; round < 8 && !to_b.empty(); ++round) {
            Bytes to_a;
            for (const auto byte : to_b) {
                auto out = b.on_bytes(ByteView(&byte, 1));
                const Bytes sent = concat(out.send);
                to_a.insert(to_a.end(), sent.begin(), sent.end());
                delivered.insert(delivered.end(), out.deliver.begin(), out.deliver.end());
                if (out.closed) {
                    b_closed = out.closed;
                }
            }
            auto out = a.on_bytes(to_a);
            if (out.closed) {
                a_closed = out.closed;
            }
            to_b = concat(out.send);
        }
        return delivered;
    }

    void connect() {
        pump(concat(a.start().send));
        ASSERT_TRUE(a.authenticated());
        ASSERT_TRUE(b.authenticated());
    }

    ReplayCache cache{8};
    PeerSession a;
    PeerSession b;
    std::optional<std::string> a_closed;
    std::optional<std::string> b_closed;
};

TEST_F(Sessions, HandshakeThenFramesAreDelivered) {
    connect();
    const Bytes join = a.encode(resource_frame(JoinReq{100}, 0)); // a joiner has no epoch
    const Bytes hb = a.encode(resource_frame(Heartbeat{3000}, 5));
    Bytes both = join;
    both.insert(both.end(), hb.begin(), hb.end());
    auto delivered = pump(both);
    ASSERT_EQ(delivered.size(), 2U);
    EXPECT_EQ(delivered[0].payload, Payload{JoinReq{100}});
    EXPECT_EQ(delivered[1].payload, Payload{Heartbeat{3000}});
    EXPECT_FALSE(b_closed);
}

TEST_F(Sessions, StaleEpochDisconnects) {
    connect();
    auto delivered = pump(a.encode(resource_frame(PreserveDone{0}, 4)));
    EXPECT_TRUE(delivered.empty());
    ASSERT_TRUE(b_closed);
    EXPECT_NE(b_closed->find("stale epoch 4"), std::string::npos) << *b_closed;
    EXPECT_TRUE(b.closed());
    // Nothing more is obeyed.
    EXPECT_TRUE(pump(a.encode(resource_frame(Heartbeat{1}, 5))).empty());
}

TEST_F(Sessions, MalformedFrameDisconnects) {
    connect();
    Bytes bad = a.encode(resource_frame(Leave{}, 5));
    bad[0] = 'X';
    pump(bad);
    ASSERT_TRUE(b_closed);
    EXPECT_NE(b_closed->find("bad magic"), std::string::npos);
}

TEST_F(Sessions, UnknownResourceDisconnects) {
    connect();
    pump(a.encode(resource_frame(Leave{}, 5, "other")));
    ASSERT_TRUE(b_closed);
    EXPECT_NE(b_closed->find("unknown resource"), std::string::npos);
}

TEST_F(Sessions, HandshakeMessageAfterAuthenticationDisconnects) {
    connect();
    Frame again;
    again.payload = AuthOk{};
    pump(a.encode(again));
    ASSERT_TRUE(b_closed);
    EXPECT_NE(b_closed->find("AUTH_OK after the handshake"), std::string::npos) << *b_closed;
}

TEST_F(Sessions, ErrorFramesAreDeliveredWithoutAResource) {
    connect();
    Frame err;
    err.payload = ErrorMsg{9, "going away"};
    auto delivered = pump(a.encode(err));
    ASSERT_EQ(delivered.size(), 1U);
    EXPECT_FALSE(b_closed);
}

TEST_F(Sessions, FramesBeforeAuthenticationAreNotDelivered) {
    // A JOIN_REQ instead of HELLO: the handshake fails, nothing is delivered.
    auto delivered = pump(encode_frame(resource_frame(JoinReq{1}, 0)));
    EXPECT_TRUE(delivered.empty());
    ASSERT_TRUE(b_closed);
    EXPECT_NE(b_closed->find("unexpected message"), std::string::npos);
}

class WrongKeySessions : public Sessions {
protected:
    WrongKeySessions() : Sessions("another secret!!") {}
};

TEST_F(WrongKeySessions, BothSidesCloseAndNothingIsDelivered) {
    pump(concat(a.start().send));
    EXPECT_FALSE(a.authenticated());
    EXPECT_FALSE(b.authenticated());
    ASSERT_TRUE(a_closed);
    EXPECT_NE(a_closed->find("wrong key"), std::string::npos) << *a_closed;
    ASSERT_TRUE(b_closed);
    EXPECT_NE(b_closed->find("rejected"), std::string::npos) << *b_closed;
}

} // namespace
} // namespace redd
