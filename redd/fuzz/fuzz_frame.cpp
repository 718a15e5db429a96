// libFuzzer target: the frame decoder must never crash, read out of bounds
// or accept a frame that does not re-encode to the exact bytes it used.
#include "frame.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    redd::ByteView in(data, size);
    // Decode every frame of the stream, as a connection would.
    while (!in.empty()) {
        auto result = redd::decode_frame(in);
        const auto *decoded = std::get_if<redd::Decoded>(&result);
        if (decoded == nullptr) {
            break;
        }
        const redd::Bytes again = redd::encode_frame(decoded->frame);
        const auto used = in.first(decoded->consumed);
        if (again.size() != used.size() || !std::equal(again.begin(), again.end(), used.begin())) {
            std::abort(); // the codec is not a bijection on valid frames
        }
        in = in.subspan(decoded->consumed);
    }
    return 0;
}
