// One peer connection's protocol logic, without the socket: bytes in, frames
// out.  It runs the handshake, then admits only well-formed, authenticated,
// current frames.  Anything else ends the session with a reason to log; the
// caller then closes the connection and obeys nothing more from it.
#pragma once

#include "frame.hpp"
#include "handshake.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace redd {

struct SessionOutput {
    std::vector<Bytes> send;           // encoded frames to write, in order
    std::vector<Frame> deliver;        // admitted frames, in order
    std::optional<std::string> closed; // set once: why the session ended
};

class PeerSession {
public:
    // The current epoch of a resource, or nothing if it is not ours.
    using EpochOf = std::function<std::optional<std::uint64_t>(std::string_view resource)>;

    PeerSession(Handshake handshake, EpochOf epoch_of);

    // Initiator: the HELLO.  Responder: nothing.
    SessionOutput start();
    // Bytes read from the socket.
    SessionOutput on_bytes(ByteView data);
    // Encodes an outgoing frame at the negotiated version.
    [[nodiscard]] Bytes encode(Frame frame) const;

    [[nodiscard]] bool authenticated() const { return handshake_.done(); }
    [[nodiscard]] bool closed() const { return closed_; }
    [[nodiscard]] const Handshake &handshake() const { return handshake_; }

private:
    void on_frame(Frame frame, SessionOutput &out);
    void admit(Frame frame, SessionOutput &out);
    void close(SessionOutput &out, std::string reason);

    Handshake handshake_;
    EpochOf epoch_of_;
    Bytes buffer_;
    bool closed_ = false;
};

} // namespace redd
