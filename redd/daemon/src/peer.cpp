#include "peer.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace redd::daemon {

namespace {

constexpr std::size_t kMaxOutBuffer = std::size_t{16} * 1024 * 1024;

struct AddrInfoDeleter {
    void operator()(addrinfo *ai) const { freeaddrinfo(ai); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

AddrInfoPtr resolve(const Endpoint &endpoint, bool passive, std::string &error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    addrinfo *res = nullptr;
    const std::string port = std::to_string(endpoint.port);
    const int rc = getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) {
        error = std::string("cannot resolve ") + to_string(endpoint) + ": " + gai_strerror(rc);
        return nullptr;
    }
    return AddrInfoPtr(res);
}

void set_nodelay(int fd) {
    const int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

} // namespace

UniqueFd listen_on(const Endpoint &endpoint) {
    std::string error;
    AddrInfoPtr ai = resolve(endpoint, true, error);
    if (!ai) {
        throw std::runtime_error(error);
    }
    for (addrinfo *a = ai.get(); a != nullptr; a = a->ai_next) {
        UniqueFd fd(
            socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
        if (!fd.valid()) {
            error = std::strerror(errno);
            continue;
        }
        const int one = 1;
        (void)setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd.get(), a->ai_addr, a->ai_addrlen) < 0 || listen(fd.get(), 16) < 0) {
            error = std::strerror(errno);
            continue;
        }
        return fd;
    }
    throw std::runtime_error("cannot listen on " + to_string(endpoint) + ": " + error);
}

UniqueFd dial(const Endpoint &endpoint, std::string &error) {
    AddrInfoPtr ai = resolve(endpoint, false, error);
    if (!ai) {
        return {};
    }
    for (addrinfo *a = ai.get(); a != nullptr; a = a->ai_next) {
        UniqueFd fd(
            socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
        if (!fd.valid()) {
            error = std::strerror(errno);
            continue;
        }
        set_nodelay(fd.get());
        if (connect(fd.get(), a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
            error = std::strerror(errno);
            continue;
        }
        return fd;
    }
    return {};
}

bool Conn::finish_connect(std::string &error) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        err = errno;
    }
    if (err != 0) {
        error = std::strerror(err);
        return false;
    }
    connecting_ = false;
    return true;
}

bool Conn::queue(const Bytes &bytes, std::string &error) {
    if (out_.size() + bytes.size() > kMaxOutBuffer) {
        error = "output buffer overflow (peer not reading)";
        return false;
    }
    out_.insert(out_.end(), bytes.begin(), bytes.end());
    return connecting_ || flush(error);
}

bool Conn::flush(std::string &error) {
    std::size_t done = 0;
    while (done < out_.size()) {
        const ssize_t n =
            ::send(fd_.get(), out_.data() + done, out_.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            error = std::strerror(errno);
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(done));
    return true;
}

bool Conn::read(SessionOutput &out, bool &eof, std::string &error) {
    std::array<std::uint8_t, 16384> buf{};
    for (int i = 0; i < 64; ++i) {
        const ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
        if (n == 0) {
            eof = true;
            return true;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true;
            }
            error = std::strerror(errno);
            return false;
        }
        SessionOutput got = session_->on_bytes(ByteView(buf.data(), static_cast<std::size_t>(n)));
        for (auto &b : got.send) {
            out.send.push_back(std::move(b));
        }
        for (auto &f : got.deliver) {
            out.deliver.push_back(std::move(f));
        }
        if (got.closed) {
            out.closed = std::move(got.closed);
            return true;
        }
    }
    return true;
}

} // namespace redd::daemon
