// TCP plumbing for peer connections: listening, dialling, and one
// connection's socket with its PeerSession and output buffer.
#pragma once

#include "config.hpp"
#include "log.hpp"
#include "session.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace redd::daemon {

// A non-blocking listening socket on the endpoint.  Throws std::runtime_error.
UniqueFd listen_on(const Endpoint &endpoint);
// Starts a non-blocking connect; returns an invalid fd (and sets `error`)
// if it failed at once.
UniqueFd dial(const Endpoint &endpoint, std::string &error);

class Conn {
public:
    Conn(UniqueFd fd, bool initiator, bool connecting, std::unique_ptr<PeerSession> session,
         std::optional<std::uint32_t> peer)
        : fd_(std::move(fd)), initiator_(initiator), connecting_(connecting),
          session_(std::move(session)), peer_(peer) {}

    [[nodiscard]] int fd() const { return fd_.get(); }
    [[nodiscard]] bool initiator() const { return initiator_; }
    [[nodiscard]] bool connecting() const { return connecting_; }
    [[nodiscard]] bool wants_write() const { return connecting_ || !out_.empty(); }
    [[nodiscard]] PeerSession &session() { return *session_; }
    [[nodiscard]] std::optional<std::uint32_t> peer() const { return peer_; }
    void set_peer(std::uint32_t id) { peer_ = id; }
    [[nodiscard]] bool authenticated() const { return session_->authenticated(); }

    // Completes a non-blocking connect; false (with `error`) if it failed.
    bool finish_connect(std::string &error);
    // Queues bytes and tries to write them.  False if the socket failed.
    bool queue(const Bytes &bytes, std::string &error);
    // Writes what is queued.  False if the socket failed.
    bool flush(std::string &error);
    // Reads what is available into the session.  Sets `eof` on end of
    // stream; false if the socket failed.
    bool read(SessionOutput &out, bool &eof, std::string &error);

private:
    UniqueFd fd_;
    bool initiator_;
    bool connecting_;
    std::unique_ptr<PeerSession> session_;
    std::optional<std::uint32_t> peer_;
    Bytes out_;
};

} // namespace redd::daemon
