// Levelled logging to stderr (the journal adds timestamps), and an RAII file
// descriptor.
#pragma once

#include "config.hpp"
#include "unique_fd.hpp"

#include <cstdlib>
#include <sstream>
#include <string>
#include <utility>

namespace redd::daemon {

class Logger {
public:
    explicit Logger(LogLevel level)
        : level_(level), journal_(std::getenv("JOURNAL_STREAM") != nullptr) {}

    void set_level(LogLevel level) { level_ = level; }
    [[nodiscard]] bool enabled(LogLevel level) const { return level <= level_; }

    template <typename... Args>
    void error(Args &&...args) const {
        log(LogLevel::Error, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void warn(Args &&...args) const {
        log(LogLevel::Warn, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void info(Args &&...args) const {
        log(LogLevel::Info, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void debug(Args &&...args) const {
        log(LogLevel::Debug, std::forward<Args>(args)...);
    }

private:
    template <typename... Args>
    void log(LogLevel level, Args &&...args) const {
        if (!enabled(level)) {
            return;
        }
        std::ostringstream out;
        (out << ... << std::forward<Args>(args));
        write(level, out.str());
    }
    void write(LogLevel level, const std::string &line) const;

    LogLevel level_;
    bool journal_; // stderr goes to the journal: prefix <N> priorities
};

// strerror() of a positive or negative errno, as "EINVAL (Invalid argument)".
std::string errno_name(int err);

} // namespace redd::daemon
