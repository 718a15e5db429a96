#include "control.hpp"

#include "cli.hpp"

#include <array>
#include <cerrno>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace redctl {
namespace {

constexpr std::size_t kMaxLine = std::size_t{1024} * 1024;

} // namespace

ControlClient ControlClient::connect(const std::string &path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path)) {
        throw Failure(exit_code::kFailed, "control socket path too long: " + path);
    }
    path.copy(static_cast<char *>(addr.sun_path), path.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        throw Failure(exit_code::kFailed, "cannot create a socket: " + errno_text(errno));
    }
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API
    if (::connect(fd.get(), reinterpret_cast<const sockaddr *>(&addr), sizeof(addr)) != 0) {
        const int err = errno;
        if (err == EACCES || err == EPERM) {
            throw Failure(exit_code::kPermission, "cannot connect to redd's control socket " +
                                                      path + ": " + errno_text(err));
        }
        if (err == ENOENT || err == ECONNREFUSED || err == ENOTDIR) {
            throw Failure(exit_code::kReddDown, "redd is not running (cannot connect to " + path +
                                                    ": " + errno_text(err) + ")");
        }
        throw Failure(exit_code::kReddDown,
                      "cannot connect to redd's control socket " + path + ": " + errno_text(err));
    }
    return {std::move(fd), path};
}

nlohmann::json ControlClient::request(const nlohmann::json &request,
                                      std::chrono::milliseconds timeout) {
    std::string line = request.dump() + "\n";
    std::size_t done = 0;
    while (done < line.size()) {
        const ssize_t n = ::send(fd_.get(), line.data() + done, line.size() - done, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw Failure(exit_code::kReddDown,
                          "lost the connection to redd (" + path_ + "): " + errno_text(errno));
        }
        done += static_cast<std::size_t>(n);
    }
    auto reply = read(timeout);
    if (!reply) {
        throw Failure(exit_code::kReddDown, "redd closed the connection without answering");
    }
    return *reply;
}

std::optional<nlohmann::json>
ControlClient::read(std::optional<std::chrono::milliseconds> timeout) {
    const auto deadline =
        std::chrono::steady_clock::now() + timeout.value_or(std::chrono::milliseconds(0));
    for (;;) {
        if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            auto parsed = nlohmann::json::parse(line, nullptr, false);
            if (parsed.is_discarded() || !parsed.is_object()) {
                throw Failure(exit_code::kFailed,
                              "redd sent a line that is not a JSON object: " + line.substr(0, 200));
            }
            return parsed;
        }
        if (buffer_.size() > kMaxLine) {
            throw Failure(exit_code::kFailed, "redd sent a line longer than 1 MiB");
        }
        int wait_ms = -1;
        if (timeout) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                throw Failure(exit_code::kTimeout, "redd did not answer within " +
                                                       std::to_string(timeout->count()) + " ms");
            }
            wait_ms = static_cast<int>(left.count());
        }
        pollfd pfd{fd_.get(), POLLIN, 0};
        const int ready = ::poll(&pfd, 1, wait_ms);
        if (ready < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw Failure(exit_code::kFailed, "poll: " + errno_text(errno));
        }
        if (ready == 0) {
            continue; // the deadline check above reports it
        }
        std::array<char, 65536> chunk{};
        const ssize_t n = ::recv(fd_.get(), chunk.data(), chunk.size(), 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            throw Failure(exit_code::kReddDown,
                          "lost the connection to redd (" + path_ + "): " + errno_text(errno));
        }
        if (n == 0) {
            if (!buffer_.empty()) {
                throw Failure(exit_code::kReddDown, "redd closed the connection mid-line");
            }
            return std::nullopt;
        }
        buffer_.append(chunk.data(), static_cast<std::size_t>(n));
    }
}

} // namespace redctl
