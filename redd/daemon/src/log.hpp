// Levelled logging to stderr (the journal adds timestamps), and an RAII file
// descriptor.
#pragma once

#include "config.hpp"

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

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(const UniqueFd &) = delete;
    UniqueFd &operator=(const UniqueFd &) = delete;
    UniqueFd(UniqueFd &&other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd &operator=(UniqueFd &&other) noexcept {
        if (this != &other) {
            reset(std::exchange(other.fd_, -1));
        }
        return *this;
    }
    ~UniqueFd() { reset(); }

    [[nodiscard]] int get() const { return fd_; }
    [[nodiscard]] bool valid() const { return fd_ >= 0; }
    void reset(int fd = -1);

private:
    int fd_ = -1;
};

// strerror() of a positive or negative errno, as "EINVAL (Invalid argument)".
std::string errno_name(int err);

} // namespace redd::daemon
