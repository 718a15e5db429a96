// redd-probe: a hostile peer for the cluster tests.  It connects to a redd,
// sends one kind of bad input and reports what redd did (an ERROR frame, the
// connection closed, or nothing).  It is a test tool: it never obeys a
// frame, it only looks at what comes back.
//
//   redd-probe [--timeout-ms N] TARGET CASE [ARGS]
//
//   TARGET                    HOST:PORT of the redd under test
//   wrong-key KEYFILE ID      handshake as node ID with the key in KEYFILE
//                             (the wrong one); our AUTH is MACed with it
//   garbage                   bytes that are no frame (bad magic)
//   oversize                  a HELLO header claiming a 1 MiB payload
//   bad-version V             a well-formed HELLO with header version V
//   stale-epoch KEYFILE ID RESOURCE EPOCH
//                             a correct handshake as node ID, then
//                             PRESERVE_DONE for RESOURCE at EPOCH (admitted)
//                             and at EPOCH - 1 (older than the link's floor)
//   handshake KEYFILE ID      a correct handshake only (must get AUTH_OK)
//
// Output: one line per event ("sent ...", "received ...", "closed by peer
// after N ms", "still open after N ms"), then "result: rejected" or
// "result: accepted".  Exit status: 0 when redd behaved as the case wants
// (rejected: an ERROR frame and/or the connection closed; handshake:
// AUTH_OK and the connection left open), 1 when it did not, 2 on usage or
// local errors.
#include "bytes.hpp"
#include "crypto.hpp"
#include "frame.hpp"

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <netdb.h>
#include <optional>
#include <poll.h>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>
#include <variant>
#include <vector>

namespace {

using redd::Bytes;
using redd::ByteView;
using Clock = std::chrono::steady_clock;

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A socket descriptor, closed when it goes out of scope.
class Socket {
public:
    explicit Socket(int fd) : fd_(fd) {}
    Socket(const Socket &) = delete;
    Socket &operator=(const Socket &) = delete;
    Socket(Socket &&other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Socket &operator=(Socket &&other) noexcept {
        std::swap(fd_, other.fd_);
        return *this;
    }
    ~Socket() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    [[nodiscard]] int get() const { return fd_; }

private:
    int fd_;
};

struct AddrInfoDeleter {
    void operator()(addrinfo *ai) const { freeaddrinfo(ai); }
};

std::uint64_t parse_number(std::string_view text, std::string_view what) {
    std::uint64_t value = 0;
    const auto *end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || text.empty()) {
        throw UsageError(std::string(what) + ": not a number: '" + std::string(text) + "'");
    }
    return value;
}

Socket connect_to(const std::string &target) {
    const auto colon = target.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        throw UsageError("target must be HOST:PORT, got '" + target + "'");
    }
    const std::string host = target.substr(0, colon);
    const std::string port = target.substr(colon + 1);
    (void)parse_number(port, "port");
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *res = nullptr;
    if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
        throw std::runtime_error("cannot resolve " + target + ": " + gai_strerror(rc));
    }
    const std::unique_ptr<addrinfo, AddrInfoDeleter> list(res);
    std::string error = "no address";
    for (const addrinfo *a = list.get(); a != nullptr; a = a->ai_next) {
        Socket s(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
        if (s.get() < 0) {
            error = std::strerror(errno);
            continue;
        }
        if (connect(s.get(), a->ai_addr, a->ai_addrlen) == 0) {
            return s;
        }
        error = std::strerror(errno);
    }
    throw std::runtime_error("cannot connect to " + target + ": " + error);
}

Bytes read_key(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw UsageError("cannot read key file " + path);
    }
    Bytes key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (key.empty()) {
        throw UsageError("key file " + path + " is empty");
    }
    return key;
}

// One connection to the redd under test, with what came back on it.
class Probe {
public:
    Probe(Socket sock, std::chrono::milliseconds timeout)
        : sock_(std::move(sock)), timeout_(timeout) {}

    void send_raw(ByteView bytes, std::string_view what) {
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n =
                ::send(sock_.get(), bytes.subspan(done).data(), bytes.size() - done, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                std::cout << "send of " << what << " failed: " << std::strerror(errno) << "\n";
                closed_ = true;
                return;
            }
            done += static_cast<std::size_t>(n);
        }
        std::cout << "sent " << what << " (" << bytes.size() << " bytes)\n";
    }

    void send_frame(const redd::Frame &frame, std::string_view what) {
        const Bytes bytes = redd::encode_frame(frame);
        send_raw(bytes, what);
    }

    // Waits up to the time-out for the next frame; nothing if the peer
    // closed the connection or stayed silent.
    std::optional<redd::Frame> next_frame() {
        const auto deadline = Clock::now() + timeout_;
        for (;;) {
            auto result = redd::decode_frame(buffer_);
            if (auto *decoded = std::get_if<redd::Decoded>(&result)) {
                buffer_.erase(buffer_.begin(),
                              buffer_.begin() + static_cast<std::ptrdiff_t>(decoded->consumed));
                describe(decoded->frame);
                return std::move(decoded->frame);
            }
            if (const auto *err = std::get_if<redd::DecodeError>(&result)) {
                std::cout << "received undecodable bytes: " << redd::to_string(err->code) << "\n";
                return std::nullopt;
            }
            if (!fill(deadline)) {
                return std::nullopt;
            }
        }
    }

    // Reads (and reports) until the peer closes or the time-out passes.
    // True if it closed.
    bool wait_closed() {
        while (!closed_) {
            if (!next_frame() && !closed_) {
                std::cout << "still open after " << elapsed_ms() << " ms\n";
                return false;
            }
        }
        return true;
    }

    [[nodiscard]] bool closed() const { return closed_; }
    [[nodiscard]] bool got_error() const { return got_error_; }

private:
    // Reads more bytes; false on close or time-out.
    bool fill(Clock::time_point deadline) {
        if (closed_) {
            return false;
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd p{sock_.get(), POLLIN, 0};
        const int rc = poll(&p, 1, static_cast<int>(left.count()));
        if (rc <= 0) {
            return false;
        }
        std::array<std::uint8_t, 4096> chunk{};
        const ssize_t n = ::recv(sock_.get(), chunk.data(), chunk.size(), 0);
        if (n <= 0) {
            closed_ = true;
            std::cout << "closed by peer after " << elapsed_ms() << " ms"
                      << (n < 0 ? std::string(" (") + std::strerror(errno) + ")" : "") << "\n";
            return false;
        }
        buffer_.insert(buffer_.end(), chunk.begin(), chunk.begin() + n);
        return true;
    }

    void describe(const redd::Frame &frame) {
        std::cout << "received " << redd::to_string(frame.type());
        if (const auto *em = std::get_if<redd::ErrorMsg>(&frame.payload)) {
            got_error_ = true;
            std::cout << " code " << em->code << ": " << em->text;
        }
        std::cout << "\n";
    }

    [[nodiscard]] long long elapsed_ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count();
    }

    Socket sock_;
    std::chrono::milliseconds timeout_;
    Clock::time_point start_ = Clock::now();
    Bytes buffer_;
    bool closed_ = false;
    bool got_error_ = false;
};

redd::Frame hello_frame(std::uint32_t node_id, const redd::Nonce &nonce) {
    redd::Frame f;
    f.payload = redd::Hello{redd::kProtoVersionMin, redd::kProtoVersionMax, node_id, nonce};
    return f;
}

// The initiator's half of the handshake, MACed with `key` whatever the
// responder's MAC says: the responder must be the one to refuse a wrong key.
// True on AUTH_OK.
bool handshake(Probe &probe, ByteView key, std::uint32_t own_id) {
    const redd::Nonce own_nonce = redd::random_nonce();
    probe.send_frame(hello_frame(own_id, own_nonce), "HELLO as node " + std::to_string(own_id));
    auto reply = probe.next_frame();
    const auto *auth = reply ? std::get_if<redd::Auth>(&reply->payload) : nullptr;
    if (auth == nullptr) {
        return false;
    }
    Bytes data;
    redd::ByteWriter w(data);
    const auto transcript = [&](std::string_view label) {
        data.clear();
        w.str(std::string(label));
        w.u8(0);
        w.u16(auth->version);
        w.u16(redd::kProtoVersionMin);
        w.u16(redd::kProtoVersionMax);
        w.u32(own_id);
        w.u32(auth->node_id);
        w.bytes(own_nonce);
        w.bytes(auth->nonce);
        return redd::hmac_sha256(key, data);
    };
    const bool theirs_ok = redd::mac_equal(auth->mac, transcript("redd-handshake-1 responder"));
    std::cout << "responder is node " << auth->node_id << "; its MAC "
              << (theirs_ok ? "verifies" : "does not verify") << " with our key\n";
    redd::Frame mine;
    mine.payload =
        redd::Auth{auth->version, own_id, own_nonce, transcript("redd-handshake-1 initiator")};
    probe.send_frame(mine, "AUTH");
    reply = probe.next_frame();
    return reply && std::holds_alternative<redd::AuthOk>(reply->payload);
}

redd::Frame preserve_done(const std::string &resource, std::uint64_t epoch) {
    redd::Frame f;
    f.resource = resource;
    f.epoch = epoch;
    f.request_id = 0; // no such preserve: the writer ignores it if admitted
    f.payload = redd::PreserveDone{0};
    return f;
}

int run(std::span<char *const> args) {
    std::chrono::milliseconds timeout{5000};
    std::size_t i = 1;
    if (args.size() > 2 && std::string_view(args[1]) == "--timeout-ms") {
        timeout = std::chrono::milliseconds(parse_number(args[2], "--timeout-ms"));
        i = 3;
    }
    if (args.size() < i + 2) {
        throw UsageError("usage: redd-probe [--timeout-ms N] HOST:PORT CASE [ARGS] (see the "
                         "header of redd/probe/probe.cpp)");
    }
    const std::string target = args[i];
    const std::string_view kase = args[i + 1];
    const std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i) + 2,
                                        args.end());
    const auto need = [&](std::size_t n, std::string_view usage) {
        if (rest.size() != n) {
            throw UsageError("usage: redd-probe HOST:PORT " + std::string(kase) + " " +
                             std::string(usage));
        }
    };

    bool rejected = false;
    if (kase == "wrong-key" || kase == "handshake") {
        need(2, "KEYFILE NODE_ID");
        const Bytes key = read_key(rest[0]);
        const auto id = static_cast<std::uint32_t>(parse_number(rest[1], "node id"));
        Probe probe(connect_to(target), timeout);
        const bool ok = handshake(probe, key, id);
        if (kase == "handshake") {
            const bool open = ok && !probe.wait_closed();
            std::cout << "result: " << (open ? "accepted" : "rejected") << "\n";
            return open ? 0 : 1;
        }
        rejected = !ok && (probe.got_error() || probe.wait_closed());
    } else if (kase == "garbage") {
        need(0, "");
        Probe probe(connect_to(target), timeout);
        const std::string_view junk = "GET / HTTP/1.0\r\nthis is not a redd frame at all\r\n\r\n";
        const Bytes bytes(junk.begin(), junk.end());
        probe.send_raw(bytes, "garbage");
        rejected = probe.wait_closed();
    } else if (kase == "oversize") {
        need(0, "");
        Probe probe(connect_to(target), timeout);
        Bytes header;
        redd::ByteWriter w(header);
        w.u32(redd::kFrameMagic);
        w.u16(redd::kProtoVersionMin);
        w.u16(static_cast<std::uint16_t>(redd::MsgType::Hello));
        w.u16(0);
        w.u16(0);
        w.u32(1U << 20U); // payload length: 1 MiB, over the 64 KiB limit
        w.u64(0);
        w.u64(0);
        w.u8(0);
        probe.send_raw(header, "HELLO header claiming a 1 MiB payload");
        rejected = probe.wait_closed();
    } else if (kase == "bad-version") {
        need(1, "VERSION");
        const auto version = static_cast<std::uint16_t>(parse_number(rest[0], "version"));
        Probe probe(connect_to(target), timeout);
        Bytes bytes = redd::encode_frame(hello_frame(4, redd::random_nonce()));
        bytes.at(4) = static_cast<std::uint8_t>(version >> 8U);
        bytes.at(5) = static_cast<std::uint8_t>(version & 0xffU);
        probe.send_raw(bytes, "HELLO with header version " + std::to_string(version));
        rejected = probe.wait_closed();
    } else if (kase == "stale-epoch") {
        need(4, "KEYFILE NODE_ID RESOURCE EPOCH");
        const Bytes key = read_key(rest[0]);
        const auto id = static_cast<std::uint32_t>(parse_number(rest[1], "node id"));
        const std::string &resource = rest[2];
        const std::uint64_t epoch = parse_number(rest[3], "epoch");
        if (epoch == 0 || !redd::valid_resource_name(resource)) {
            throw UsageError("stale-epoch needs a resource name and an epoch >= 1");
        }
        Probe probe(connect_to(target), timeout);
        if (!handshake(probe, key, id)) {
            std::cout << "the handshake with the right key failed\nresult: error\n";
            return 1;
        }
        std::cout << "authenticated as node " << id << "\n";
        probe.send_frame(preserve_done(resource, epoch),
                         "PRESERVE_DONE " + resource + " epoch " + std::to_string(epoch));
        // Admitted: the connection must stay open.
        auto reply = probe.next_frame();
        if (probe.closed()) {
            std::cout << "the frame at the current epoch was refused\nresult: error\n";
            return 1;
        }
        (void)reply;
        probe.send_frame(preserve_done(resource, epoch - 1),
                         "PRESERVE_DONE " + resource + " epoch " + std::to_string(epoch - 1));
        rejected = probe.wait_closed();
    } else {
        throw UsageError("unknown case '" + std::string(kase) + "'");
    }
    std::cout << "result: " << (rejected ? "rejected" : "accepted") << "\n";
    return rejected ? 0 : 1;
}

} // namespace

int main(int argc, char **argv) {
    try {
        return run(std::span<char *const>(argv, static_cast<std::size_t>(argc)));
    } catch (const UsageError &e) {
        std::cerr << "redd-probe: " << e.what() << "\n";
        return 2;
    } catch (const std::exception &e) {
        std::cerr << "redd-probe: " << e.what() << "\n";
        return 2;
    }
}
