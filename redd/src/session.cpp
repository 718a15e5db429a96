#include "session.hpp"

#include <utility>

namespace redd {

namespace {

bool is_handshake_type(MsgType type) {
    return type == MsgType::Hello || type == MsgType::Auth || type == MsgType::AuthOk;
}

} // namespace

PeerSession::PeerSession(Handshake handshake, EpochOf epoch_of)
    : handshake_(std::move(handshake)), epoch_of_(std::move(epoch_of)) {
}

SessionOutput PeerSession::start() {
    SessionOutput out;
    for (const auto &f : handshake_.start()) {
        out.send.push_back(encode_frame(f));
    }
    return out;
}

Bytes PeerSession::encode(Frame frame) const {
    frame.version = handshake_.version();
    return encode_frame(frame);
}

SessionOutput PeerSession::on_bytes(ByteView data) {
    SessionOutput out;
    if (closed_) {
        return out;
    }
    buffer_.insert(buffer_.end(), data.begin(), data.end());
    std::size_t used = 0;
    while (!closed_) {
        auto result = decode_frame(ByteView(buffer_).subspan(used));
        if (std::holds_alternative<NeedMore>(result)) {
            break;
        }
        if (auto *err = std::get_if<DecodeError>(&result)) {
            close(out, "malformed frame: " + std::string(to_string(err->code)) + " (" +
                           err->detail + ")");
            break;
        }
        auto &decoded = std::get<Decoded>(result);
        used += decoded.consumed;
        on_frame(std::move(decoded.frame), out);
    }
    if (!closed_) {
        buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(used));
    }
    return out;
}

void PeerSession::on_frame(Frame frame, SessionOutput &out) {
    if (!handshake_.done()) {
        for (const auto &f : handshake_.on_frame(frame)) {
            out.send.push_back(encode_frame(f));
        }
        if (handshake_.state() == HandshakeState::Failed) {
            close(out, "handshake failed: " + std::string(to_string(handshake_.failure())));
        }
        return;
    }
    admit(std::move(frame), out);
}

void PeerSession::admit(Frame frame, SessionOutput &out) {
    const MsgType type = frame.type();
    if (is_handshake_type(type)) {
        close(out, std::string(to_string(type)) + " after the handshake");
        return;
    }
    if (frame.version != handshake_.version()) {
        close(out, "frame version " + std::to_string(frame.version) + ", negotiated " +
                       std::to_string(handshake_.version()));
        return;
    }
    if (type == MsgType::Error) {
        out.deliver.push_back(std::move(frame)); // information, obeyed by nobody
        return;
    }
    const auto current = epoch_of_(frame.resource);
    if (!current) {
        close(out, "unknown resource '" + frame.resource + "'");
        return;
    }
    // A joiner has no epoch yet; everything else must be current.
    if (type != MsgType::JoinReq && is_stale_epoch(frame.epoch, *current)) {
        close(out, std::string(to_string(type)) + " for stale epoch " +
                       std::to_string(frame.epoch) + " of '" + frame.resource + "' (current " +
                       std::to_string(*current) + ")");
        return;
    }
    out.deliver.push_back(std::move(frame));
}

void PeerSession::close(SessionOutput &out, std::string reason) {
    closed_ = true;
    buffer_.clear();
    out.closed = std::move(reason);
}

} // namespace redd
