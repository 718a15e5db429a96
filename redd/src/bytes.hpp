// Big-endian (network byte order) readers and writers over byte buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace redd {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// Appends values in network byte order.
class ByteWriter {
public:
    explicit ByteWriter(Bytes &out) : out_(out) {}

    void u8(std::uint8_t v) { out_.push_back(v); }
    void u16(std::uint16_t v) { put(v, 2); }
    void u32(std::uint32_t v) { put(v, 4); }
    void u64(std::uint64_t v) { put(v, 8); }
    void bytes(ByteView v) { out_.insert(out_.end(), v.begin(), v.end()); }
    void str(const std::string &s) { out_.insert(out_.end(), s.begin(), s.end()); }

private:
    void put(std::uint64_t v, int width) {
        for (int shift = (width - 1) * 8; shift >= 0; shift -= 8) {
            out_.push_back(static_cast<std::uint8_t>(v >> shift));
        }
    }

    Bytes &out_;
};

// Reads values in network byte order; every read is bounds-checked and
// returns std::nullopt (consuming nothing) when too few bytes remain.
class ByteReader {
public:
    explicit ByteReader(ByteView in) : in_(in) {}

    [[nodiscard]] std::size_t remaining() const { return in_.size() - pos_; }

    std::optional<std::uint8_t> u8() { return get<std::uint8_t>(1); }
    std::optional<std::uint16_t> u16() { return get<std::uint16_t>(2); }
    std::optional<std::uint32_t> u32() { return get<std::uint32_t>(4); }
    std::optional<std::uint64_t> u64() { return get<std::uint64_t>(8); }

    std::optional<ByteView> bytes(std::size_t n) {
        if (remaining() < n) {
            return std::nullopt;
        }
        ByteView v = in_.subspan(pos_, n);
        pos_ += n;
        return v;
    }

private:
    template <typename T>
    std::optional<T> get(std::size_t width) {
        if (remaining() < width) {
            return std::nullopt;
        }
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < width; ++i) {
            v = (v << 8U) | in_[pos_ + i];
        }
        pos_ += width;
        return static_cast<T>(v);
    }

    ByteView in_;
    std::size_t pos_ = 0;
};

} // namespace redd
