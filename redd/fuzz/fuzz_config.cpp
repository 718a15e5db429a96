// libFuzzer target: the config parser must either return a valid Config or
// throw ConfigError, whatever the bytes.
#include "config.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): libFuzzer hands out bytes
    const std::string_view text(reinterpret_cast<const char *>(data), size);
    const redd::KeyLoader stub = [](const std::string &) {
        return redd::SecretKey(redd::Bytes(32, 0x42));
    };
    try {
        const redd::Config config = redd::parse_config(text, "fuzz.conf", {}, stub);
        if (config.node(config.node_id()) == nullptr || config.resources().empty()) {
            std::abort(); // validation let an inconsistent config through
        }
    } catch (const redd::ConfigError &e) {
        if (e.file() != "fuzz.conf" || e.message().empty()) {
            std::abort();
        }
    }
    return 0;
}
