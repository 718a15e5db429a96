#include "crypto.hpp"

#include <memory>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

namespace redd {

namespace {

struct MacDeleter {
    void operator()(EVP_MAC *mac) const { EVP_MAC_free(mac); }
};
struct MacCtxDeleter {
    void operator()(EVP_MAC_CTX *ctx) const { EVP_MAC_CTX_free(ctx); }
};
using MacPtr = std::unique_ptr<EVP_MAC, MacDeleter>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;

} // namespace

SecretKey::SecretKey(SecretKey &&other) noexcept : bytes_(std::move(other.bytes_)) {
    other.wipe();
}

SecretKey &SecretKey::operator=(const SecretKey &other) {
    if (this != &other) {
        wipe();
        bytes_ = other.bytes_;
    }
    return *this;
}

SecretKey &SecretKey::operator=(SecretKey &&other) noexcept {
    if (this != &other) {
        wipe();
        bytes_ = std::move(other.bytes_);
        other.wipe();
    }
    return *this;
}

SecretKey::~SecretKey() {
    wipe();
}

bool SecretKey::operator==(const SecretKey &other) const {
    return bytes_.size() == other.bytes_.size() &&
           CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), bytes_.size()) == 0;
}

void SecretKey::wipe() noexcept {
    if (!bytes_.empty()) {
        OPENSSL_cleanse(bytes_.data(), bytes_.size());
    }
    bytes_.clear();
}

Mac hmac_sha256(ByteView key, ByteView data) {
    const MacPtr mac(EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr));
    if (!mac) {
        throw CryptoError("EVP_MAC_fetch(HMAC) failed");
    }
    const MacCtxPtr ctx(EVP_MAC_CTX_new(mac.get()));
    if (!ctx) {
        throw CryptoError("EVP_MAC_CTX_new failed");
    }
    std::string digest = "SHA256";
    const std::array<OSSL_PARAM, 2> params = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
        OSSL_PARAM_construct_end()};
    // An empty key is legal for HMAC but EVP_MAC_init wants a non-null pointer.
    static constexpr std::uint8_t kEmpty = 0;
    const std::uint8_t *key_ptr = key.empty() ? &kEmpty : key.data();
    Mac out{};
    std::size_t out_len = 0;
    if (EVP_MAC_init(ctx.get(), key_ptr, key.size(), params.data()) != 1 ||
        EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1 ||
        EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) != 1 || out_len != out.size()) {
        throw CryptoError("HMAC-SHA256 failed");
    }
    return out;
}

bool mac_equal(const Mac &a, const Mac &b) {
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Nonce random_nonce() {
    Nonce n{};
    if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) {
        throw CryptoError("RAND_bytes failed");
    }
    return n;
}

} // namespace redd
