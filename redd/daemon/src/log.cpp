#include "log.hpp"

#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace redd::daemon {

void Logger::write(LogLevel level, const std::string &line) const {
    // <N> prefixes are the syslog priorities journald understands on stderr.
    const char *prefix = "<6>";
    const char *word = "info";
    switch (level) {
    case LogLevel::Error:
        prefix = "<3>";
        word = "error";
        break;
    case LogLevel::Warn:
        prefix = "<4>";
        word = "warning";
        break;
    case LogLevel::Info:
        break;
    case LogLevel::Debug:
        prefix = "<7>";
        word = "debug";
        break;
    }
    std::string out = std::string(journal_ ? prefix : "") + "redd: " + word + ": " + line + "\n";
    (void)::write(STDERR_FILENO, out.data(), out.size());
}

std::string errno_name(int err) {
    if (err < 0) {
        err = -err;
    }
    std::string out;
    if (const char *name = strerrorname_np(err); name != nullptr) {
        out.append(name);
    } else {
        out.push_back('E');
        out.append(std::to_string(err));
    }
    out.append(" (");
    out.append(std::strerror(err));
    out.push_back(')');
    return out;
}

} // namespace redd::daemon
