#include "frame.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace redd {
namespace {

Frame make(Payload payload, std::string resource = "pgdata") {
    Frame f;
    f.epoch = 7;
    f.request_id = 0x0102030405060708ULL;
    f.resource = std::move(resource);
    f.payload = std::move(payload);
    return f;
}

Nonce filled(std::uint8_t v) {
    Nonce n{};
    n.fill(v);
    return n;
}

std::vector<Frame> samples() {
    Mac mac{};
    mac.fill(0xab);
    return {
        make(Hello{1, 3, 42, filled(1)}, ""),
        make(Auth{1, 42, filled(2), mac}, ""),
        make(AuthOk{}, ""),
        make(JoinReq{1U << 20}),
        make(JoinAck{3000}),
        make(Preserve{{{0, 1}, {100, 28}, {std::numeric_limits<std::uint64_t>::max() - 1, 1}}}),
        make(PreserveDone{-28}),
        make(Heartbeat{3000}),
        make(Leave{}),
        make(ErrorMsg{5, "stale epoch"}),
        make(ErrorMsg{1, ""}, ""),
    };
}

DecodeErrc error_of(const Bytes &bytes) {
    auto r = decode_frame(bytes);
    const auto *err = std::get_if<DecodeError>(&r);
    EXPECT_NE(err, nullptr);
    return err != nullptr ? err->code : DecodeErrc::BadMagic;
}

// Byte offsets in the fixed header.
constexpr std::size_t kOffVersion = 4;
constexpr std::size_t kOffType = 6;
constexpr std::size_t kOffFlags = 8;
constexpr std::size_t kOffReserved = 10;
constexpr std::size_t kOffLength = 12;
constexpr std::size_t kOffNameLen = 32;

void put16(Bytes &b, std::size_t off, std::uint16_t v) {
    b[off] = static_cast<std::uint8_t>(v >> 8);
    b[off + 1] = static_cast<std::uint8_t>(v);
}
void put32(Bytes &b, std::size_t off, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        b[off + i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
    }
}

TEST(Frame, RoundTripsEveryType) {
    for (const auto &f : samples()) {
        SCOPED_TRACE(std::string(to_string(f.type())));
        const Bytes bytes = encode_frame(f);
        auto r = decode_frame(bytes);
        ASSERT_TRUE(std::holds_alternative<Decoded>(r));
        const auto &d = std::get<Decoded>(r);
        EXPECT_EQ(d.consumed, bytes.size());
        EXPECT_EQ(d.frame, f);
        EXPECT_EQ(encode_frame(d.frame), bytes);
    }
}

TEST(Frame, HeaderLayoutIsNetworkOrder) {
    const Bytes b = encode_frame(make(Heartbeat{0x01020304}, "r"));
    ASSERT_EQ(b.size(), kFixedHeaderSize + 1 + 4);
    EXPECT_EQ(b[0], 'R');
    EXPECT_EQ(b[1], 'E');
    EXPECT_EQ(b[2], 'D');
    EXPECT_EQ(b[3], 'P');
    EXPECT_EQ(b[kOffType + 1], static_cast<std::uint8_t>(MsgType::Heartbeat));
    EXPECT_EQ(b[kOffLength + 3], 4);
    EXPECT_EQ(b[kOffNameLen], 1);
    EXPECT_EQ(b[kOffNameLen + 1], 'r');
    EXPECT_EQ(b.back(), 0x04);
}

TEST(Frame, EveryPrefixNeedsMore) {
    for (const auto &f : samples()) {
        const Bytes bytes = encode_frame(f);
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            auto r = decode_frame(ByteView(bytes.data(), n));
            EXPECT_TRUE(std::holds_alternative<NeedMore>(r)) << "prefix " << n;
        }
    }
}

TEST(Frame, DecodesFirstOfSeveral) {
    Bytes a = encode_frame(make(Leave{}));
    const Bytes b = encode_frame(make(Heartbeat{9}));
    const std::size_t first = a.size();
    a.insert(a.end(), b.begin(), b.end());
    auto r = decode_frame(a);
    ASSERT_TRUE(std::holds_alternative<Decoded>(r));
    EXPECT_EQ(std::get<Decoded>(r).consumed, first);
    auto r2 = decode_frame(ByteView(a).subspan(first));
    ASSERT_TRUE(std::holds_alternative<Decoded>(r2));
    EXPECT_EQ(std::get<Decoded>(r2).frame.payload, Payload{Heartbeat{9}});
}

TEST(FrameErrors, BadMagic) {
    Bytes b = encode_frame(make(Leave{}));
    b[0] = 'X';
    EXPECT_EQ(error_of(b), DecodeErrc::BadMagic);
    // Detected as soon as the magic is there.
    EXPECT_EQ(error_of(Bytes(b.begin(), b.begin() + 4)), DecodeErrc::BadMagic);
}

TEST(FrameErrors, UnsupportedVersion) {
    Bytes b = encode_frame(make(Leave{}));
    put16(b, kOffVersion, 0);
    EXPECT_EQ(error_of(b), DecodeErrc::UnsupportedVersion);
    put16(b, kOffVersion, kProtoVersionMax + 1);
    EXPECT_EQ(error_of(b), DecodeErrc::UnsupportedVersion);
}

TEST(FrameErrors, UnknownType) {
    Bytes b = encode_frame(make(Leave{}));
    put16(b, kOffType, 0);
    EXPECT_EQ(error_of(b), DecodeErrc::UnknownType);
    put16(b, kOffType, 11);
    EXPECT_EQ(error_of(b), DecodeErrc::UnknownType);
    put16(b, kOffType, 0xffff);
    EXPECT_EQ(error_of(b), DecodeErrc::UnknownType);
}

TEST(FrameErrors, FlagsAndReserved) {
    Bytes b = encode_frame(make(Leave{}));
    put16(b, kOffFlags, 1);
    EXPECT_EQ(error_of(b), DecodeErrc::UnknownFlags);
    b = encode_frame(make(Leave{}));
    put16(b, kOffReserved, 0x8000);
    EXPECT_EQ(error_of(b), DecodeErrc::ReservedNotZero);
}

TEST(FrameErrors, OversizedIsRejectedFromTheHeaderAlone) {
    Bytes b = encode_frame(make(Leave{}));
    put32(b, kOffLength, static_cast<std::uint32_t>(kMaxFrameSize));
    EXPECT_EQ(error_of(b), DecodeErrc::Oversized);
    put32(b, kOffLength, 0xffffffffU);
    EXPECT_EQ(error_of(b), DecodeErrc::Oversized);
}

TEST(FrameErrors, LengthMismatch) {
    Bytes b = encode_frame(make(Heartbeat{1}));
    put32(b, kOffLength, 3);
    b.pop_back();
    EXPECT_EQ(error_of(b), DecodeErrc::LengthMismatch);
    b = encode_frame(make(Leave{}));
    put32(b, kOffLength, 1);
    b.push_back(0);
    EXPECT_EQ(error_of(b), DecodeErrc::LengthMismatch);
    // ERROR whose text length disagrees with the payload.
    b = encode_frame(make(ErrorMsg{1, "abc"}));
    b[b.size() - 4] = 4;
    EXPECT_EQ(error_of(b), DecodeErrc::LengthMismatch);
}

TEST(FrameErrors, ResourceNames) {
    Bytes b = encode_frame(make(Leave{}, "pg"));
    b[kOffNameLen + 1] = '/';
    EXPECT_EQ(error_of(b), DecodeErrc::BadResourceName);
    b[kOffNameLen] = 64;
    EXPECT_EQ(error_of(b), DecodeErrc::BadResourceName);
    // A name forged onto a connection-level message.
    Bytes named = encode_frame(make(AuthOk{}, ""));
    named[kOffNameLen] = 1;
    named.insert(named.begin() + kOffNameLen + 1, 'a');
    EXPECT_EQ(error_of(named), DecodeErrc::UnexpectedResource);
    Bytes missing = encode_frame(make(AuthOk{}, ""));
    put16(missing, kOffType, static_cast<std::uint16_t>(MsgType::Leave));
    EXPECT_EQ(error_of(missing), DecodeErrc::MissingResource);
}

TEST(FrameErrors, Ranges) {
    Bytes b = encode_frame(make(Preserve{{{5, 1}}}));
    const std::size_t count_off = kFixedHeaderSize + 6;
    Bytes zero = b;
    put16(zero, count_off, 0);
    EXPECT_EQ(error_of(zero), DecodeErrc::ZeroRanges);
    Bytes many = b;
    put16(many, count_off, 257);
    EXPECT_EQ(error_of(many), DecodeErrc::TooManyRanges);
    Bytes wrong = b;
    put16(wrong, count_off, 2);
    EXPECT_EQ(error_of(wrong), DecodeErrc::LengthMismatch);
    Bytes empty = b;
    empty.back() = 0; // count of the only range
    EXPECT_EQ(error_of(empty), DecodeErrc::EmptyRange);
    Bytes overflow = b;
    for (std::size_t i = 0; i < 8; ++i) {
        overflow[count_off + 2 + i] = 0xff; // start = max
    }
    EXPECT_EQ(error_of(overflow), DecodeErrc::RangeOverflow);
}

TEST(FrameErrors, MaxRangesIsAccepted) {
    Preserve p;
    for (std::uint64_t i = 0; i < kMaxRanges; ++i) {
        p.ranges.push_back({i * 10, 2});
    }
    const Bytes b = encode_frame(make(p));
    EXPECT_TRUE(std::holds_alternative<Decoded>(decode_frame(b)));
}

TEST(FrameEncode, RejectsWhatTheDecoderWould) {
    EXPECT_THROW(encode_frame(make(Preserve{})), FrameEncodeError);
    EXPECT_THROW(encode_frame(make(Preserve{{{1, 0}}})), FrameEncodeError);
    EXPECT_THROW(encode_frame(make(Leave{}, "")), FrameEncodeError);
    EXPECT_THROW(encode_frame(make(Leave{}, std::string(64, 'a'))), FrameEncodeError);
    EXPECT_THROW(encode_frame(make(Hello{}, "pg")), FrameEncodeError);
    EXPECT_THROW(encode_frame(make(ErrorMsg{1, std::string(256, 'e')})), FrameEncodeError);
    Preserve too_many;
    too_many.ranges.assign(kMaxRanges + 1, ChunkRange{0, 1});
    EXPECT_THROW(encode_frame(make(too_many)), FrameEncodeError);
}

TEST(Frame, ResourceNameRules) {
    EXPECT_TRUE(valid_resource_name("pg-data_1.x"));
    EXPECT_TRUE(valid_resource_name(std::string(63, 'a')));
    EXPECT_FALSE(valid_resource_name(""));
    EXPECT_FALSE(valid_resource_name(std::string(64, 'a')));
    EXPECT_FALSE(valid_resource_name("a b"));
    EXPECT_FALSE(valid_resource_name("a/b"));
}

} // namespace
} // namespace redd
