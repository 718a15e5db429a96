#include "frame.hpp"

#include <linux/dm-red.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>

namespace redd {

// The peer protocol carries what the kernel interface carries.
static_assert(kMaxRanges == DM_RED_MAX_RANGES);
static_assert(kMaxResourceName + 1 == DM_RED_RESOURCE_MAX);

namespace {

constexpr std::uint16_t kKnownFlags = 0; // no flags are defined in version 1
constexpr std::uint16_t kMaxType = static_cast<std::uint16_t>(MsgType::Error);
constexpr std::size_t kRangeSize = 16;

enum class ResourceRule { Forbidden, Optional, Required };

ResourceRule resource_rule(MsgType type) {
    switch (type) {
    case MsgType::Hello:
    case MsgType::Auth:
    case MsgType::AuthOk:
        return ResourceRule::Forbidden;
    case MsgType::Error:
        return ResourceRule::Optional;
    default:
        return ResourceRule::Required;
    }
}

DecodeError error(DecodeErrc code, std::string detail) {
    return DecodeError{code, std::move(detail)};
}

// Semantic checks shared by the encoder and the decoder.
std::optional<DecodeError> validate(const Frame &frame) {
    if (frame.version < kProtoVersionMin || frame.version > kProtoVersionMax) {
        return error(DecodeErrc::UnsupportedVersion,
                     "version " + std::to_string(frame.version) + " not supported");
    }
    switch (resource_rule(frame.type())) {
    case ResourceRule::Forbidden:
        if (!frame.resource.empty()) {
            return error(DecodeErrc::UnexpectedResource,
                         std::string(to_string(frame.type())) + " carries a resource name");
        }
        break;
    case ResourceRule::Required:
        if (frame.resource.empty()) {
            return error(DecodeErrc::MissingResource,
                         std::string(to_string(frame.type())) + " needs a resource name");
        }
        break;
    case ResourceRule::Optional:
        break;
    }
    if (!frame.resource.empty() && !valid_resource_name(frame.resource)) {
        return error(DecodeErrc::BadResourceName, "bad resource name");
    }
    if (const auto *p = std::get_if<Preserve>(&frame.payload)) {
        if (p->ranges.empty()) {
            return error(DecodeErrc::ZeroRanges, "PRESERVE without ranges");
        }
        if (p->ranges.size() > kMaxRanges) {
            return error(DecodeErrc::TooManyRanges, "more than 256 ranges");
        }
        for (const auto &r : p->ranges) {
            if (r.count == 0) {
                return error(DecodeErrc::EmptyRange, "range of zero chunks");
            }
            if (r.start > std::numeric_limits<std::uint64_t>::max() - r.count) {
                return error(DecodeErrc::RangeOverflow, "range end overflows");
            }
        }
    }
    if (const auto *e = std::get_if<ErrorMsg>(&frame.payload)) {
        if (e->text.size() > kMaxErrorText) {
            return error(DecodeErrc::ErrorTextTooLong, "error text too long");
        }
    }
    return std::nullopt;
}

void encode_payload(ByteWriter &w, const Payload &payload) {
    std::visit(
        [&w](const auto &m) {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, Hello>) {
                w.u16(m.version_min);
                w.u16(m.version_max);
                w.u32(m.node_id);
                w.bytes(m.nonce);
            } else if constexpr (std::is_same_v<T, Auth>) {
                w.u16(m.version);
                w.u32(m.node_id);
                w.bytes(m.nonce);
                w.bytes(m.mac);
            } else if constexpr (std::is_same_v<T, JoinReq>) {
                w.u64(m.store_chunks);
            } else if constexpr (std::is_same_v<T, JoinAck> || std::is_same_v<T, Heartbeat>) {
                w.u32(m.lease_ms);
            } else if constexpr (std::is_same_v<T, Preserve>) {
                w.u16(static_cast<std::uint16_t>(m.ranges.size()));
                for (const auto &r : m.ranges) {
                    w.u64(r.start);
                    w.u64(r.count);
                }
            } else if constexpr (std::is_same_v<T, PreserveDone>) {
                w.u32(static_cast<std::uint32_t>(m.error));
            } else if constexpr (std::is_same_v<T, ErrorMsg>) {
                w.u32(m.code);
                w.u8(static_cast<std::uint8_t>(m.text.size()));
                w.str(m.text);
            } else {
                static_assert(std::is_same_v<T, AuthOk> || std::is_same_v<T, Leave>);
            }
        },
        payload);
}

template <std::size_t N>
std::array<std::uint8_t, N> take_array(ByteReader &r) {
    std::array<std::uint8_t, N> out{};
    if (auto v = r.bytes(N)) {
        std::copy(v->begin(), v->end(), out.begin());
    }
    return out;
}

// The fixed payload size of each type; std::nullopt for variable-size ones.
std::optional<std::size_t> fixed_payload_size(MsgType type) {
    switch (type) {
    case MsgType::Hello:
        return 8 + kNonceSize;
    case MsgType::Auth:
        return 6 + kNonceSize + kMacSize;
    case MsgType::AuthOk:
    case MsgType::Leave:
        return 0;
    case MsgType::JoinReq:
        return 8;
    case MsgType::JoinAck:
    case MsgType::Heartbeat:
    case MsgType::PreserveDone:
        return 4;
    case MsgType::Preserve:
    case MsgType::Error:
        return std::nullopt;
    }
    return std::nullopt;
}

// Decodes a payload whose length has already been bounded by the header.
std::variant<Payload, DecodeError> decode_payload(MsgType type, ByteView body) {
    const auto mismatch = [type](const std::string &why) {
        return error(DecodeErrc::LengthMismatch, std::string(to_string(type)) + ": " + why);
    };
    if (auto want = fixed_payload_size(type); want && body.size() != *want) {
        return mismatch("payload is " + std::to_string(body.size()) + " bytes, expected " +
                        std::to_string(*want));
    }
    ByteReader r(body);
    switch (type) {
    case MsgType::Hello: {
        Hello h;
        h.version_min = *r.u16();
        h.version_max = *r.u16();
        h.node_id = *r.u32();
        h.nonce = take_array<kNonceSize>(r);
        return Payload{h};
    }
    case MsgType::Auth: {
        Auth a;
        a.version = *r.u16();
        a.node_id = *r.u32();
        a.nonce = take_array<kNonceSize>(r);
        a.mac = take_array<kMacSize>(r);
        return Payload{a};
    }
    case MsgType::AuthOk:
        return Payload{AuthOk{}};
    case MsgType::Leave:
        return Payload{Leave{}};
    case MsgType::JoinReq:
        return Payload{JoinReq{*r.u64()}};
    case MsgType::JoinAck:
        return Payload{JoinAck{*r.u32()}};
    case MsgType::Heartbeat:
        return Payload{Heartbeat{*r.u32()}};
    case MsgType::PreserveDone:
        return Payload{PreserveDone{static_cast<std::int32_t>(*r.u32())}};
    case MsgType::Preserve: {
        auto count = r.u16();
        if (!count) {
            return mismatch("no range count");
        }
        if (*count == 0) {
            return error(DecodeErrc::ZeroRanges, "PRESERVE without ranges");
        }
        if (*count > kMaxRanges) {
            return error(DecodeErrc::TooManyRanges,
                         "PRESERVE with " + std::to_string(*count) + " ranges");
        }
        if (r.remaining() != *count * kRangeSize) {
            return mismatch("range count does not match the payload length");
        }
        Preserve p;
        p.ranges.reserve(*count);
        for (std::size_t i = 0; i < *count; ++i) {
            ChunkRange range;
            range.start = *r.u64();
            range.count = *r.u64();
            p.ranges.push_back(range);
        }
        return Payload{std::move(p)};
    }
    case MsgType::Error: {
        auto code = r.u32();
        auto len = r.u8();
        if (!code || !len || r.remaining() != *len) {
            return mismatch("text length does not match the payload length");
        }
        auto text = r.bytes(*len);
        return Payload{ErrorMsg{*code, std::string(text->begin(), text->end())}};
    }
    }
    return error(DecodeErrc::UnknownType, "unknown type");
}

} // namespace

std::string_view to_string(MsgType type) {
    switch (type) {
    case MsgType::Hello:
        return "HELLO";
    case MsgType::Auth:
        return "AUTH";
    case MsgType::AuthOk:
        return "AUTH_OK";
    case MsgType::JoinReq:
        return "JOIN_REQ";
    case MsgType::JoinAck:
        return "JOIN_ACK";
    case MsgType::Preserve:
        return "PRESERVE";
    case MsgType::PreserveDone:
        return "PRESERVE_DONE";
    case MsgType::Heartbeat:
        return "HEARTBEAT";
    case MsgType::Leave:
        return "LEAVE";
    case MsgType::Error:
        return "ERROR";
    }
    return "UNKNOWN";
}

std::string_view to_string(DecodeErrc errc) {
    switch (errc) {
    case DecodeErrc::BadMagic:
        return "bad magic";
    case DecodeErrc::UnsupportedVersion:
        return "unsupported version";
    case DecodeErrc::UnknownType:
        return "unknown message type";
    case DecodeErrc::UnknownFlags:
        return "unknown flags";
    case DecodeErrc::ReservedNotZero:
        return "reserved field not zero";
    case DecodeErrc::Oversized:
        return "frame too large";
    case DecodeErrc::BadResourceName:
        return "bad resource name";
    case DecodeErrc::UnexpectedResource:
        return "unexpected resource name";
    case DecodeErrc::MissingResource:
        return "missing resource name";
    case DecodeErrc::LengthMismatch:
        return "length mismatch";
    case DecodeErrc::ZeroRanges:
        return "zero ranges";
    case DecodeErrc::TooManyRanges:
        return "too many ranges";
    case DecodeErrc::EmptyRange:
        return "empty range";
    case DecodeErrc::RangeOverflow:
        return "range overflow";
    case DecodeErrc::ErrorTextTooLong:
        return "error text too long";
    }
    return "unknown error";
}

MsgType Frame::type() const {
    return static_cast<MsgType>(payload.index() + 1);
}

bool valid_resource_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxResourceName) {
        return false;
    }
    return std::ranges::all_of(name, [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '.' || c == '-';
    });
}

Bytes encode_frame(const Frame &frame) {
    if (auto err = validate(frame)) {
        throw FrameEncodeError("cannot encode " + std::string(to_string(frame.type())) + ": " +
                               err->detail);
    }
    Bytes payload;
    ByteWriter pw(payload);
    encode_payload(pw, frame.payload);

    Bytes out;
    out.reserve(kFixedHeaderSize + frame.resource.size() + payload.size());
    ByteWriter w(out);
    w.u32(kFrameMagic);
    w.u16(frame.version);
    w.u16(static_cast<std::uint16_t>(frame.type()));
    w.u16(0); // flags
    w.u16(0); // reserved
    w.u32(static_cast<std::uint32_t>(payload.size()));
    w.u64(frame.epoch);
    w.u64(frame.request_id);
    w.u8(static_cast<std::uint8_t>(frame.resource.size()));
    w.str(frame.resource);
    w.bytes(payload);
    if (out.size() > kMaxFrameSize) {
        throw FrameEncodeError("frame larger than " + std::to_string(kMaxFrameSize) + " bytes");
    }
    return out;
}

DecodeResult decode_frame(ByteView in) {
    ByteReader r(in);
    auto magic = r.u32();
    if (!magic) {
        return NeedMore{};
    }
    if (*magic != kFrameMagic) {
        return error(DecodeErrc::BadMagic, "bad magic");
    }
    if (in.size() < kFixedHeaderSize) {
        return NeedMore{};
    }
    auto version = r.u16();
    auto type = r.u16();
    auto flags = r.u16();
    auto reserved = r.u16();
    auto length = r.u32();
    auto epoch = r.u64();
    auto request_id = r.u64();
    auto name_len = r.u8();
    if (*version < kProtoVersionMin || *version > kProtoVersionMax) {
        return error(DecodeErrc::UnsupportedVersion,
                     "version " + std::to_string(*version) + " not supported");
    }
    if (*type == 0 || *type > kMaxType) {
        return error(DecodeErrc::UnknownType, "unknown type " + std::to_string(*type));
    }
    if ((*flags & ~kKnownFlags) != 0) {
        return error(DecodeErrc::UnknownFlags, "unknown flags " + std::to_string(*flags));
    }
    if (*reserved != 0) {
        return error(DecodeErrc::ReservedNotZero, "reserved field is not zero");
    }
    if (*name_len > kMaxResourceName) {
        return error(DecodeErrc::BadResourceName, "resource name too long");
    }
    const std::size_t total = kFixedHeaderSize + *name_len + std::size_t{*length};
    if (total > kMaxFrameSize) {
        return error(DecodeErrc::Oversized, "frame of " + std::to_string(total) + " bytes");
    }
    if (in.size() < total) {
        return NeedMore{};
    }
    auto name = r.bytes(*name_len);
    auto body = r.bytes(*length);

    const auto msg_type = static_cast<MsgType>(*type);
    auto payload = decode_payload(msg_type, *body);
    if (auto *err = std::get_if<DecodeError>(&payload)) {
        return std::move(*err);
    }
    Frame frame;
    frame.version = *version;
    frame.epoch = *epoch;
    frame.request_id = *request_id;
    frame.resource.assign(name->begin(), name->end());
    frame.payload = std::move(std::get<Payload>(payload));
    if (auto err = validate(frame)) {
        return std::move(*err);
    }
    return Decoded{std::move(frame), total};
}

} // namespace redd
