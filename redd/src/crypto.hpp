// Thin RAII wrappers over the libcrypto primitives redd needs.
#pragma once

#include "bytes.hpp"
#include "frame.hpp"

#include <stdexcept>

namespace redd {

class CryptoError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A shared secret; wiped from memory when destroyed.
class SecretKey {
public:
    SecretKey() = default;
    explicit SecretKey(Bytes bytes) : bytes_(std::move(bytes)) {}
    SecretKey(const SecretKey &) = default;
    SecretKey(SecretKey &&other) noexcept;
    SecretKey &operator=(const SecretKey &other);
    SecretKey &operator=(SecretKey &&other) noexcept;
    ~SecretKey();

    [[nodiscard]] ByteView view() const { return bytes_; }
    [[nodiscard]] bool empty() const { return bytes_.empty(); }
    bool operator==(const SecretKey &other) const;

private:
    void wipe() noexcept;
    Bytes bytes_;
};

// HMAC-SHA256 of `data` under `key` (OpenSSL EVP_MAC).
Mac hmac_sha256(ByteView key, ByteView data);

// Constant-time equality of two MACs.
bool mac_equal(const Mac &a, const Mac &b);

// A nonce from the OpenSSL CSPRNG; throws CryptoError if it is not seeded.
Nonce random_nonce();

} // namespace redd
