#include "handshake.hpp"

#include <gtest/gtest.h>

namespace redd {
namespace {

SecretKey key_of(const std::string &s) {
    return SecretKey(Bytes(s.begin(), s.end()));
}

Nonce filled(std::uint8_t v) {
    Nonce n{};
    n.fill(v);
    return n;
}

HandshakeParams params(std::uint32_t id, const std::string &key, std::uint16_t vmin = 1,
                       std::uint16_t vmax = 1) {
    HandshakeParams p;
    p.own_id = id;
    p.key = key_of(key);
    p.version_min = vmin;
    p.version_max = vmax;
    return p;
}

// Every frame goes through the codec, as on the wire.
Frame wire(const Frame &f) {
    auto r = decode_frame(encode_frame(f));
    EXPECT_TRUE(std::holds_alternative<Decoded>(r));
    return std::get<Decoded>(r).frame;
}

struct Pair {
    ReplayCache cache{16};
    Handshake a;
    Handshake b;
    Pair(HandshakeParams pa, HandshakeParams pb)
        : a(Handshake::initiator(std::move(pa), filled(0xa1))),
          b(Handshake::responder(std::move(pb), filled(0xb2), cache)) {}

    // Runs the exchange to the end, returning the number of frames sent.
    int run() {
        std::vector<Frame> to_b = a.start();
        int sent = static_cast<int>(to_b.size());
        for (int round = 0; round < 8 && !to_b.empty(); ++round) {
            std::vector<Frame> to_a;
            for (const auto &f : to_b) {
                for (auto &g : b.on_frame(wire(f))) {
                    to_a.push_back(std::move(g));
                }
            }
            sent += static_cast<int>(to_a.size());
            to_b.clear();
            for (const auto &f : to_a) {
                for (auto &g : a.on_frame(wire(f))) {
                    to_b.push_back(std::move(g));
                }
            }
            sent += static_cast<int>(to_b.size());
        }
        return sent;
    }
};

TEST(Handshake, Succeeds) {
    Pair p(params(1, "a shared secret!"), params(2, "a shared secret!"));
    EXPECT_EQ(p.run(), 4);
    EXPECT_TRUE(p.a.done());
    EXPECT_TRUE(p.b.done());
    EXPECT_EQ(p.a.peer_id(), 2U);
    EXPECT_EQ(p.b.peer_id(), 1U);
    EXPECT_EQ(p.a.version(), 1);
    EXPECT_EQ(p.b.version(), 1);
}

TEST(Handshake, NegotiatesHighestCommonVersion) {
    // The state machine is version-agnostic; only the codec pins v1.
    ReplayCache cache(4);
    auto a = Handshake::initiator(params(1, "k", 1, 5), filled(1));
    auto b = Handshake::responder(params(2, "k", 2, 4), filled(2), cache);
    auto hello = a.start();
    auto auth = b.on_frame(hello.at(0));
    ASSERT_EQ(auth.size(), 1U);
    EXPECT_EQ(std::get<Auth>(auth[0].payload).version, 4);
    auto auth2 = a.on_frame(auth[0]);
    ASSERT_EQ(auth2.size(), 1U);
    auto ok = b.on_frame(auth2[0]);
    ASSERT_EQ(ok.size(), 1U);
    EXPECT_TRUE(a.on_frame(ok[0]).empty());
    EXPECT_TRUE(a.done());
    EXPECT_TRUE(b.done());
    EXPECT_EQ(a.version(), 4);
}

TEST(Handshake, NoCommonVersion) {
    ReplayCache cache(4);
    auto a = Handshake::initiator(params(1, "k", 1, 2), filled(1));
    auto b = Handshake::responder(params(2, "k", 3, 4), filled(2), cache);
    auto out = b.on_frame(a.start().at(0));
    EXPECT_EQ(b.state(), HandshakeState::Failed);
    EXPECT_EQ(b.failure(), HandshakeFailure::NoCommonVersion);
    ASSERT_EQ(out.size(), 1U);
    ASSERT_TRUE(std::holds_alternative<ErrorMsg>(out[0].payload));
    a.on_frame(out[0]);
    EXPECT_EQ(a.failure(), HandshakeFailure::PeerRejected);
}

TEST(Handshake, WrongKeyIsCaughtByTheInitiator) {
    Pair p(params(1, "key one"), params(2, "key two"));
    p.run();
    EXPECT_EQ(p.a.failure(), HandshakeFailure::WrongKey);
    EXPECT_EQ(p.b.failure(), HandshakeFailure::PeerRejected);
    EXPECT_FALSE(p.a.done());
    EXPECT_FALSE(p.b.done());
}

TEST(Handshake, WrongKeyIsCaughtByTheResponder) {
    // An initiator that skips verifying (a forged client) still cannot pass:
    // replay the responder's AUTH, computed under the right key, at the
    // responder; it is the wrong label, so the MAC does not match.
    ReplayCache cache(4);
    auto b = Handshake::responder(params(2, "right"), filled(2), cache);
    auto a = Handshake::initiator(params(1, "wrong"), filled(1));
    auto auth = b.on_frame(a.start().at(0));
    ASSERT_EQ(auth.size(), 1U);
    Auth forged = std::get<Auth>(auth[0].payload);
    forged.node_id = 1;
    forged.nonce = filled(1);
    Frame f = auth[0];
    f.payload = forged;
    b.on_frame(f);
    EXPECT_EQ(b.failure(), HandshakeFailure::WrongKey);
}

TEST(Handshake, TamperedMessagesFail) {
    // Flip one bit of the responder's MAC.
    {
        ReplayCache cache(4);
        auto a = Handshake::initiator(params(1, "k"), filled(1));
        auto b = Handshake::responder(params(2, "k"), filled(2), cache);
        auto auth = b.on_frame(a.start().at(0));
        std::get<Auth>(auth.at(0).payload).mac[5] ^= 1U;
        a.on_frame(auth[0]);
        EXPECT_EQ(a.failure(), HandshakeFailure::WrongKey);
    }
    // Change the responder's nonce in flight.
    {
        ReplayCache cache(4);
        auto a = Handshake::initiator(params(1, "k"), filled(1));
        auto b = Handshake::responder(params(2, "k"), filled(2), cache);
        auto auth = b.on_frame(a.start().at(0));
        std::get<Auth>(auth.at(0).payload).nonce[0] ^= 1U;
        a.on_frame(auth[0]);
        EXPECT_EQ(a.failure(), HandshakeFailure::WrongKey);
    }
    // Downgrade the initiator's offered range: the responder's MAC then
    // covers a range the initiator never offered.
    {
        ReplayCache cache(4);
        auto a = Handshake::initiator(params(1, "k", 1, 2), filled(1));
        auto b = Handshake::responder(params(2, "k", 1, 2), filled(2), cache);
        auto hello = a.start();
        std::get<Hello>(hello.at(0).payload).version_max = 1;
        auto auth = b.on_frame(hello[0]);
        a.on_frame(auth.at(0));
        EXPECT_EQ(a.failure(), HandshakeFailure::WrongKey);
    }
    // Tamper with the initiator's AUTH.
    {
        ReplayCache cache(4);
        auto a = Handshake::initiator(params(1, "k"), filled(1));
        auto b = Handshake::responder(params(2, "k"), filled(2), cache);
        auto auth = b.on_frame(a.start().at(0));
        auto auth2 = a.on_frame(auth.at(0));
        Frame mac_flipped = auth2.at(0);
        std::get<Auth>(mac_flipped.payload).mac[0] ^= 0x80U;
        b.on_frame(mac_flipped);
        EXPECT_EQ(b.failure(), HandshakeFailure::WrongKey);
    }
    {
        ReplayCache cache(4);
        auto a = Handshake::initiator(params(1, "k"), filled(1));
        auto b = Handshake::responder(params(2, "k"), filled(2), cache);
        auto auth = b.on_frame(a.start().at(0));
        auto auth2 = a.on_frame(auth.at(0));
        std::get<Auth>(auth2.at(0).payload).node_id = 3;
        b.on_frame(auth2[0]);
        EXPECT_EQ(b.failure(), HandshakeFailure::TranscriptMismatch);
    }
}

TEST(Handshake, ReplayedNonceIsRefused) {
    ReplayCache cache(4);
    auto a = Handshake::initiator(params(1, "k"), filled(1));
    auto hello = a.start();
    auto b1 = Handshake::responder(params(2, "k"), filled(2), cache);
    EXPECT_EQ(b1.on_frame(hello.at(0)).size(), 1U);
    auto b2 = Handshake::responder(params(2, "k"), filled(3), cache);
    b2.on_frame(hello[0]);
    EXPECT_EQ(b2.failure(), HandshakeFailure::ReplayedNonce);
    // A reflected nonce (the responder's own) is refused too.
    auto a2 = Handshake::initiator(params(1, "k"), filled(1));
    ReplayCache fresh(4);
    auto b4 = Handshake::responder(params(2, "k"), filled(1), fresh);
    b4.on_frame(a2.start().at(0));
    EXPECT_EQ(b4.failure(), HandshakeFailure::ReplayedNonce);
}

TEST(Handshake, UnknownPeersAreRefused) {
    ReplayCache cache(4);
    auto p = params(2, "k");
    p.allowed_peers = {3, 4};
    auto b = Handshake::responder(std::move(p), filled(2), cache);
    auto a = Handshake::initiator(params(1, "k"), filled(1));
    b.on_frame(a.start().at(0));
    EXPECT_EQ(b.failure(), HandshakeFailure::UnknownPeer);

    auto self = Handshake::responder(params(1, "k"), filled(3), cache);
    auto a2 = Handshake::initiator(params(1, "k"), filled(4));
    self.on_frame(a2.start().at(0));
    EXPECT_EQ(self.failure(), HandshakeFailure::UnknownPeer);

    // The initiator checks it reached the node it dialled.
    auto pa = params(1, "k");
    pa.expected_peer = 9;
    auto a3 = Handshake::initiator(std::move(pa), filled(5));
    auto b3 = Handshake::responder(params(2, "k"), filled(6), cache);
    a3.on_frame(b3.on_frame(a3.start().at(0)).at(0));
    EXPECT_EQ(a3.failure(), HandshakeFailure::UnknownPeer);
}

TEST(Handshake, UnexpectedMessagesFail) {
    ReplayCache cache(4);
    auto b = Handshake::responder(params(2, "k"), filled(2), cache);
    Frame f;
    f.resource = "r";
    f.payload = JoinReq{};
    b.on_frame(f);
    EXPECT_EQ(b.failure(), HandshakeFailure::UnexpectedMessage);

    auto a = Handshake::initiator(params(1, "k"), filled(1));
    a.start();
    Frame ok;
    ok.payload = AuthOk{};
    a.on_frame(ok); // AUTH_OK before the responder authenticated
    EXPECT_EQ(a.failure(), HandshakeFailure::UnexpectedMessage);
    EXPECT_TRUE(a.on_frame(ok).empty()); // a failed handshake stays failed
    EXPECT_EQ(a.state(), HandshakeState::Failed);
}

TEST(ReplayCache, ForgetsOldestBeyondCapacity) {
    ReplayCache cache(2);
    EXPECT_TRUE(cache.insert(filled(1)));
    EXPECT_TRUE(cache.insert(filled(2)));
    EXPECT_FALSE(cache.insert(filled(1)));
    EXPECT_TRUE(cache.insert(filled(3)));
    EXPECT_TRUE(cache.insert(filled(1)));
}

TEST(Crypto, HmacSha256KnownAnswer) {
    // RFC 4231 test case 2.
    const std::string key = "Jefe";
    const std::string data = "what do ya want for nothing?";
    const Mac mac = hmac_sha256(Bytes(key.begin(), key.end()), Bytes(data.begin(), data.end()));
    const Mac want = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                      0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                      0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    EXPECT_TRUE(mac_equal(mac, want));
    EXPECT_NE(random_nonce(), random_nonce());
}

} // namespace
} // namespace redd
