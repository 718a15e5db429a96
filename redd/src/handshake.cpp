#include "handshake.hpp"

#include <algorithm>
#include <utility>

namespace redd {

namespace {

constexpr std::string_view kInitiatorLabel = "redd-handshake-1 initiator";
constexpr std::string_view kResponderLabel = "redd-handshake-1 responder";

Frame handshake_frame(Payload payload) {
    Frame f;
    f.version = kProtoVersionMin; // handshake frames always use the base version
    f.payload = std::move(payload);
    return f;
}

} // namespace

std::string_view to_string(HandshakeFailure failure) {
    switch (failure) {
    case HandshakeFailure::None:
        return "none";
    case HandshakeFailure::NoCommonVersion:
        return "no common protocol version";
    case HandshakeFailure::WrongKey:
        return "authentication failed (wrong key)";
    case HandshakeFailure::UnexpectedMessage:
        return "unexpected message";
    case HandshakeFailure::ReplayedNonce:
        return "replayed nonce";
    case HandshakeFailure::UnknownPeer:
        return "unknown peer node id";
    case HandshakeFailure::TranscriptMismatch:
        return "handshake transcript mismatch";
    case HandshakeFailure::PeerRejected:
        return "peer rejected the handshake";
    }
    return "unknown failure";
}

bool ReplayCache::insert(const Nonce &nonce) {
    if (seen_.contains(nonce)) {
        return false;
    }
    if (capacity_ == 0) {
        return true;
    }
    if (order_.size() == capacity_) {
        seen_.erase(order_.front());
        order_.pop_front();
    }
    order_.push_back(nonce);
    seen_.insert(nonce);
    return true;
}

Handshake::Handshake(HandshakeParams params, const Nonce &nonce, ReplayCache *replay,
                     bool initiator)
    : params_(std::move(params)), own_nonce_(nonce), replay_(replay), initiator_(initiator),
      state_(initiator ? HandshakeState::Start : HandshakeState::AwaitHello) {
}

Handshake Handshake::initiator(HandshakeParams params, const Nonce &nonce) {
    return {std::move(params), nonce, nullptr, true};
}

Handshake Handshake::responder(HandshakeParams params, const Nonce &nonce, ReplayCache &replay) {
    return {std::move(params), nonce, &replay, false};
}

std::vector<Frame> Handshake::start() {
    if (!initiator_ || state_ != HandshakeState::Start) {
        return {};
    }
    offered_min_ = params_.version_min;
    offered_max_ = params_.version_max;
    state_ = HandshakeState::AwaitAuth;
    return {handshake_frame(
        Hello{params_.version_min, params_.version_max, params_.own_id, own_nonce_})};
}

std::vector<Frame> Handshake::on_frame(const Frame &frame) {
    if (state_ == HandshakeState::Done || state_ == HandshakeState::Failed) {
        return {};
    }
    if (std::holds_alternative<ErrorMsg>(frame.payload)) {
        state_ = HandshakeState::Failed;
        failure_ = HandshakeFailure::PeerRejected;
        return {};
    }
    if (const auto *hello = std::get_if<Hello>(&frame.payload);
        hello != nullptr && state_ == HandshakeState::AwaitHello) {
        return on_hello(*hello);
    }
    if (const auto *auth = std::get_if<Auth>(&frame.payload);
        auth != nullptr &&
        (state_ == HandshakeState::AwaitAuth || state_ == HandshakeState::AwaitPeerAuth)) {
        return on_auth(*auth);
    }
    if (std::holds_alternative<AuthOk>(frame.payload) && state_ == HandshakeState::AwaitAuthOk) {
        state_ = HandshakeState::Done;
        return {};
    }
    return fail(HandshakeFailure::UnexpectedMessage);
}

std::vector<Frame> Handshake::on_hello(const Hello &hello) {
    const bool allowed = hello.node_id != params_.own_id &&
                         (params_.allowed_peers.empty() ||
                          std::find(params_.allowed_peers.begin(), params_.allowed_peers.end(),
                                    hello.node_id) != params_.allowed_peers.end());
    if (!allowed) {
        return fail(HandshakeFailure::UnknownPeer);
    }
    const auto lo = std::max(hello.version_min, params_.version_min);
    const auto hi = std::min(hello.version_max, params_.version_max);
    if (hello.version_min > hello.version_max || lo > hi) {
        return fail(HandshakeFailure::NoCommonVersion);
    }
    if (hello.nonce == own_nonce_ || !replay_->insert(hello.nonce)) {
        return fail(HandshakeFailure::ReplayedNonce);
    }
    version_ = hi;
    offered_min_ = hello.version_min;
    offered_max_ = hello.version_max;
    peer_id_ = hello.node_id;
    peer_nonce_ = hello.nonce;
    state_ = HandshakeState::AwaitPeerAuth;
    return {handshake_frame(Auth{version_, params_.own_id, own_nonce_, transcript_mac(false)})};
}

std::vector<Frame> Handshake::on_auth(const Auth &auth) {
    if (initiator_) {
        // The responder's answer to our HELLO.
        if (params_.expected_peer && auth.node_id != *params_.expected_peer) {
            return fail(HandshakeFailure::UnknownPeer);
        }
        if (auth.node_id == params_.own_id) {
            return fail(HandshakeFailure::UnknownPeer);
        }
        if (auth.version < params_.version_min || auth.version > params_.version_max) {
            return fail(HandshakeFailure::NoCommonVersion);
        }
        if (auth.nonce == own_nonce_) {
            return fail(HandshakeFailure::ReplayedNonce);
        }
        version_ = auth.version;
        peer_id_ = auth.node_id;
        peer_nonce_ = auth.nonce;
        if (!mac_equal(auth.mac, transcript_mac(false))) {
            return fail(HandshakeFailure::WrongKey);
        }
        state_ = HandshakeState::AwaitAuthOk;
        return {handshake_frame(Auth{version_, params_.own_id, own_nonce_, transcript_mac(true)})};
    }
    // The initiator's answer to our AUTH: it must repeat the transcript.
    if (auth.version != version_ || auth.node_id != peer_id_ || auth.nonce != peer_nonce_) {
        return fail(HandshakeFailure::TranscriptMismatch);
    }
    if (!mac_equal(auth.mac, transcript_mac(true))) {
        return fail(HandshakeFailure::WrongKey);
    }
    state_ = HandshakeState::Done;
    return {handshake_frame(AuthOk{})};
}

std::vector<Frame> Handshake::fail(HandshakeFailure failure) {
    state_ = HandshakeState::Failed;
    failure_ = failure;
    return {handshake_frame(
        ErrorMsg{static_cast<std::uint32_t>(failure), std::string(to_string(failure))})};
}

Mac Handshake::transcript_mac(bool from_initiator) const {
    const std::uint32_t initiator_id = initiator_ ? params_.own_id : peer_id_;
    const std::uint32_t responder_id = initiator_ ? peer_id_ : params_.own_id;
    const Nonce &initiator_nonce = initiator_ ? own_nonce_ : peer_nonce_;
    const Nonce &responder_nonce = initiator_ ? peer_nonce_ : own_nonce_;

    Bytes data;
    ByteWriter w(data);
    w.str(std::string(from_initiator ? kInitiatorLabel : kResponderLabel));
    w.u8(0);
    w.u16(version_);
    w.u16(offered_min_);
    w.u16(offered_max_);
    w.u32(initiator_id);
    w.u32(responder_id);
    w.bytes(initiator_nonce);
    w.bytes(responder_nonce);
    return hmac_sha256(params_.key.view(), data);
}

} // namespace redd
