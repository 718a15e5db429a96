// A client of redd's control socket (Documentation/control-socket.rst):
// one JSON object per line each way.
#pragma once

#include "system.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace redctl {

class ControlClient {
public:
    // Connects to the socket at `path`.  Throws Failure: kReddDown when
    // nothing listens there (redd is not running), kPermission, kFailed.
    static ControlClient connect(const std::string &path);

    // Sends `request` and reads its reply (waits at most `timeout`).  Throws
    // Failure(kReddDown) when redd closes the connection, kTimeout when it does
    // not answer in time, kFailed for a reply that is not a JSON object.
    nlohmann::json request(const nlohmann::json &request, std::chrono::milliseconds timeout);

    // Reads the next line as JSON; nullopt at the end of the stream.  Waits
    // for ever without a timeout.  Throws as request() does.
    std::optional<nlohmann::json> read(std::optional<std::chrono::milliseconds> timeout);

    [[nodiscard]] const std::string &path() const { return path_; }

private:
    ControlClient(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

    UniqueFd fd_;
    std::string path_;
    std::string buffer_;
};

} // namespace redctl
