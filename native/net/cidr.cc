#include "cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace epoxy {

namespace {

// The address bytes of `addr` as `family` sees them; false when it cannot (another family).
bool address_bytes(const SockAddr& addr, int family, uint8_t out[16]) {
  if (addr.family() == AF_INET) {
    if (family != AF_INET) return false;
    std::memcpy(out, &reinterpret_cast<const sockaddr_in*>(&addr.storage)->sin_addr, 4);
    return true;
  }
  if (addr.family() != AF_INET6) return false;
  const uint8_t* a = reinterpret_cast<const sockaddr_in6*>(&addr.storage)->sin6_addr.s6_addr;
  if (family == AF_INET6) {
    std::memcpy(out, a, 16);
    return true;
  }
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a, kMapped, sizeof kMapped) != 0) return false;
  std::memcpy(out, a + 12, 4);
  return true;
}

bool prefix_matches(const uint8_t* a, const uint8_t* b, unsigned bits) {
  unsigned whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

bool parse_cidr(std::string_view text, Cidr& out, std::string& error) {
  out = Cidr{};
  size_t slash = text.find('/');
  std::string host(text.substr(0, slash));
  if (inet_pton(AF_INET, host.c_str(), out.bytes) == 1) {
    out.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), out.bytes) == 1) {
    out.family = AF_INET6;
  } else {
    error = "not an IP address or range like 10.0.0.0/8";
    return false;
  }
  unsigned max = out.family == AF_INET ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    std::string_view p = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || prefix > max) {
      error = "prefix length must be 0-" + std::to_string(max);
      return false;
    }
  }
  out.prefix = static_cast<uint8_t>(prefix);
  uint8_t masked[16];
  std::memcpy(masked, out.bytes, sizeof masked);
  for (unsigned bit = prefix; bit < max; ++bit) masked[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  if (std::memcmp(masked, out.bytes, max / 8) != 0) {
    error = "host bits are set below the prefix length";
    return false;
  }
  return true;
}

bool cidr_contains(const Cidr& range, const SockAddr& addr) {
  uint8_t bytes[16];
  return address_bytes(addr, range.family, bytes) && prefix_matches(bytes, range.bytes, range.prefix);
}

bool any_contains(const std::vector<Cidr>& ranges, const SockAddr& addr) {
  for (const Cidr& r : ranges) {
    if (cidr_contains(r, addr)) return true;
  }
  return false;
}

}  // namespace epoxy
