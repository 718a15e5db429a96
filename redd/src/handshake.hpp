// The peer handshake as a pure state machine (no sockets).
//
//   initiator                          responder
//   HELLO {vmin, vmax, id_i, n_i}  ->
//                                  <-  AUTH {v, id_r, n_r, mac_r}
//   AUTH {v, id_i, n_i, mac_i}     ->
//                                  <-  AUTH_OK
//
// v is the highest version both ranges contain.  mac_x is HMAC-SHA256 with
// the shared key over a role label, v, the initiator's offered range, both
// node ids and both nonces, so each side proves knowledge of the key against
// the other's fresh challenge, and neither MAC can be reflected back.
#pragma once

#include "crypto.hpp"
#include "frame.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

namespace redd {

enum class HandshakeFailure : std::uint32_t {
    None = 0,
    NoCommonVersion = 1,
    WrongKey = 2,
    UnexpectedMessage = 3,
    ReplayedNonce = 4,
    UnknownPeer = 5,
    TranscriptMismatch = 6,
    PeerRejected = 7,
};

std::string_view to_string(HandshakeFailure failure);

enum class HandshakeState {
    Start,
    AwaitAuth,     // initiator: HELLO sent
    AwaitAuthOk,   // initiator: own AUTH sent
    AwaitHello,    // responder: nothing received yet
    AwaitPeerAuth, // responder: own AUTH sent
    Done,
    Failed,
};

// Remembers the most recent peer nonces so a replayed HELLO is refused.
class ReplayCache {
public:
    explicit ReplayCache(std::size_t capacity) : capacity_(capacity) {}
    // False if the nonce was seen recently; otherwise remembers it.
    bool insert(const Nonce &nonce);

private:
    std::size_t capacity_;
    std::deque<Nonce> order_;
    std::set<Nonce> seen_;
};

struct HandshakeParams {
    std::uint32_t own_id = 0;
    SecretKey key;
    std::uint16_t version_min = kProtoVersionMin;
    std::uint16_t version_max = kProtoVersionMax;
    // Initiator: the node it dialled.  Responder: ignored.
    std::optional<std::uint32_t> expected_peer;
    // Responder: node ids allowed to connect (empty: any but its own).
    std::vector<std::uint32_t> allowed_peers;
};

class Handshake {
public:
    // `nonce` must be fresh (random_nonce()); it is a parameter for tests.
    static Handshake initiator(HandshakeParams params, const Nonce &nonce);
    static Handshake responder(HandshakeParams params, const Nonce &nonce, ReplayCache &replay);

    // Initiator: the HELLO to send first.  Responder: nothing.
    std::vector<Frame> start();
    // Feeds one received frame; returns the frames to send in reply.  On
    // failure the reply is an ERROR frame and state() becomes Failed.
    std::vector<Frame> on_frame(const Frame &frame);

    [[nodiscard]] HandshakeState state() const { return state_; }
    [[nodiscard]] HandshakeFailure failure() const { return failure_; }
    [[nodiscard]] bool done() const { return state_ == HandshakeState::Done; }
    // Valid once done().
    [[nodiscard]] std::uint16_t version() const { return version_; }
    [[nodiscard]] std::uint32_t peer_id() const { return peer_id_; }

private:
    Handshake(HandshakeParams params, const Nonce &nonce, ReplayCache *replay, bool initiator);

    std::vector<Frame> on_hello(const Hello &hello);
    std::vector<Frame> on_auth(const Auth &auth);
    std::vector<Frame> fail(HandshakeFailure failure);
    [[nodiscard]] Mac transcript_mac(bool from_initiator) const;

    HandshakeParams params_;
    Nonce own_nonce_;
    ReplayCache *replay_;
    bool initiator_;
    HandshakeState state_ = HandshakeState::Start;
    HandshakeFailure failure_ = HandshakeFailure::None;

    // Transcript, filled as the handshake goes.
    std::uint16_t version_ = 0;
    std::uint16_t offered_min_ = 0;
    std::uint16_t offered_max_ = 0;
    std::uint32_t peer_id_ = 0;
    Nonce peer_nonce_{};
};

} // namespace redd
