// The peer wire format: framed, versioned binary messages between redd
// instances.  See redd/README.md for the byte layout.
#pragma once

#include "bytes.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace redd {

inline constexpr std::uint32_t kFrameMagic = 0x52454450; // "REDP"
inline constexpr std::uint16_t kProtoVersionMin = 1;
inline constexpr std::uint16_t kProtoVersionMax = 1;
inline constexpr std::size_t kMaxFrameSize = std::size_t{64} * 1024;
inline constexpr std::size_t kFixedHeaderSize = 33; // up to and incl. the name length
inline constexpr std::size_t kMaxResourceName = 63;
inline constexpr std::size_t kMaxRanges = 256;
inline constexpr std::size_t kMaxErrorText = 255;
inline constexpr std::size_t kNonceSize = 32;
inline constexpr std::size_t kMacSize = 32;

using Nonce = std::array<std::uint8_t, kNonceSize>;
using Mac = std::array<std::uint8_t, kMacSize>;

enum class MsgType : std::uint16_t {
    Hello = 1,
    Auth = 2,
    AuthOk = 3,
    JoinReq = 4,
    JoinAck = 5,
    Preserve = 6,
    PreserveDone = 7,
    Heartbeat = 8,
    Leave = 9,
    Error = 10,
};

std::string_view to_string(MsgType type);

// Initiator's opening message: its version range, node id and challenge.
struct Hello {
    std::uint16_t version_min = 0;
    std::uint16_t version_max = 0;
    std::uint32_t node_id = 0;
    Nonce nonce{};
    bool operator==(const Hello &) const = default;
};

// Sent by both sides: the chosen version, the sender's node id and nonce,
// and the HMAC over the handshake transcript (the response to the peer's
// challenge).
struct Auth {
    std::uint16_t version = 0;
    std::uint32_t node_id = 0;
    Nonce nonce{};
    Mac mac{};
    bool operator==(const Auth &) const = default;
};

struct AuthOk {
    bool operator==(const AuthOk &) const = default;
};

// Copier -> writer: let me join.  store_chunks is the copier's store size.
struct JoinReq {
    std::uint64_t store_chunks = 0;
    bool operator==(const JoinReq &) const = default;
};

// Writer -> copier: the join is done at the header's epoch; the copier holds
// a read lease of lease_ms, anchored at the time it sent its JOIN_REQ.
struct JoinAck {
    std::uint32_t lease_ms = 0;
    bool operator==(const JoinAck &) const = default;
};

struct ChunkRange {
    std::uint64_t start = 0;
    std::uint64_t count = 0;
    bool operator==(const ChunkRange &) const = default;
};

// Writer -> copier: preserve these chunks (1..kMaxRanges ranges).
struct Preserve {
    std::vector<ChunkRange> ranges;
    bool operator==(const Preserve &) const = default;
};

// Copier -> writer: answer to PRESERVE with the same request id.
struct PreserveDone {
    std::int32_t error = 0; // 0 or -errno
    bool operator==(const PreserveDone &) const = default;
};

// Copier -> writer: a lease request (lease_ms = the lease asked for).
// Writer -> copier: the grant, with the request's id (lease_ms granted).
struct Heartbeat {
    std::uint32_t lease_ms = 0;
    bool operator==(const Heartbeat &) const = default;
};

struct Leave {
    bool operator==(const Leave &) const = default;
};

struct ErrorMsg {
    std::uint32_t code = 0;
    std::string text; // at most kMaxErrorText bytes
    bool operator==(const ErrorMsg &) const = default;
};

using Payload = std::variant<Hello, Auth, AuthOk, JoinReq, JoinAck, Preserve, PreserveDone,
                             Heartbeat, Leave, ErrorMsg>;

// HELLO, AUTH and AUTH_OK are connection-level and carry no resource name;
// ERROR may carry one; every other message must name a resource.
struct Frame {
    std::uint16_t version = kProtoVersionMin;
    std::uint64_t epoch = 0;
    std::uint64_t request_id = 0;
    std::string resource;
    Payload payload;

    [[nodiscard]] MsgType type() const;
    bool operator==(const Frame &) const = default;
};

// A resource name: 1..63 characters of [A-Za-z0-9_.-].
bool valid_resource_name(std::string_view name);

// True if a message for `msg_epoch` must be refused at `current`.
inline bool is_stale_epoch(std::uint64_t msg_epoch, std::uint64_t current) {
    return msg_epoch < current;
}

enum class DecodeErrc {
    BadMagic,
    UnsupportedVersion,
    UnknownType,
    UnknownFlags,
    ReservedNotZero,
    Oversized,
    BadResourceName,
    UnexpectedResource,
    MissingResource,
    LengthMismatch,
    ZeroRanges,
    TooManyRanges,
    EmptyRange,
    RangeOverflow,
    ErrorTextTooLong,
};

std::string_view to_string(DecodeErrc errc);

struct NeedMore {
    bool operator==(const NeedMore &) const = default;
};

struct Decoded {
    Frame frame;
    std::size_t consumed = 0; // bytes of the input this frame used
};

struct DecodeError {
    DecodeErrc code;
    std::string detail;
};

using DecodeResult = std::variant<NeedMore, Decoded, DecodeError>;

// Decodes the first frame of `in`.  Never reads outside `in`.  Header fields
// are checked as soon as they are present, so garbage is rejected before the
// whole (claimed) frame has arrived.
DecodeResult decode_frame(ByteView in);

class FrameEncodeError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// Encodes a frame; throws FrameEncodeError if the decoder would reject it.
Bytes encode_frame(const Frame &frame);

} // namespace redd
