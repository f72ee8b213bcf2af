// libFuzzer harness for native/proxyproto (built by CMakeLists.txt with -DEPOXY_FUZZ=ON, run by
// scripts/fuzz.sh). The whole input is what a listener read so far; seeds in corpus/ are the
// spec's examples and headers captured from haproxy 2.6.
//
// Besides "no crash, no sanitizer report", it checks what proxy_protocol.h promises, and aborts
// when a promise is broken:
//  - Done: the header lies within the input and its version's bound (107 bytes for v1,
//    kMaxV2Bytes for v2); every proper prefix of it is NeedMore; parsing exactly its bytes gives
//    the same Header (bytes after it don't matter); when it is not local, append_v1 and
//    append_v2 from its addresses parse back, whole, to the same addresses;
//  - NeedMore: the input is shorter than its version's bound;
//  - Invalid / TooLarge: a reason is given; TooLarge only once the bound can be known;
//  - the builders, given addresses and TLV values cut from the input, always make a header that
//    parses whole, to the same addresses.
#include <arpa/inet.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "../proxy_protocol.h"
#include "../../testing/fuzz_check.h"

namespace {

using namespace epoxy::proxyproto;
using epoxy::SockAddr;

bool same_addr(const SockAddr& a, const SockAddr& b) {
  return a.len == b.len && std::memcmp(&a.storage, &b.storage, a.len) == 0;
}

bool same_header(const Header& a, const Header& b) {
  if (a.version != b.version || a.length != b.length || a.local != b.local) return false;
  return a.local || (same_addr(a.src, b.src) && same_addr(a.dst, b.dst));
}

// The bound on a header starting like `data`: v1 starts with 'P', v2 with '\r'.
size_t bound(std::string_view data) {
  return !data.empty() && data[0] == 'P' ? kMaxV1Bytes : kMaxV2Bytes;
}

// Both builders from `h`'s addresses: each header parses whole to the same addresses.
void check_rebuilt(const SockAddr& src, const SockAddr& dst, std::string_view authority, std::string_view alpn) {
  for (int version : {1, 2}) {
    std::string built = "prefix";
    if (version == 1) {
      append_v1(built, &src, &dst);
    } else {
      append_v2(built, &src, &dst, authority, alpn);
    }
    std::string_view header = std::string_view(built).substr(6);
    Header back;
    std::string error;
    FUZZ_CHECK(parse(header, back, &error) == ParseStatus::Done);
    FUZZ_CHECK(back.version == version && back.length == header.size() && !back.local);
    FUZZ_CHECK(back.length <= (version == 1 ? kMaxV1Bytes : kMaxV2Bytes));
    if (src.family() == dst.family()) {
      FUZZ_CHECK(same_addr(back.src, src) && same_addr(back.dst, dst));
    } else {
      FUZZ_CHECK(back.src.family() == AF_INET6 && back.dst.family() == AF_INET6);
      FUZZ_CHECK(back.src.port() == src.port() && back.dst.port() == dst.port());
    }
  }
}

void fuzz_parse(std::string_view data) {
  Header h;
  std::string error;
  ParseStatus st = parse(data, h, &error);
  if (st == ParseStatus::Invalid || st == ParseStatus::TooLarge) {
    FUZZ_CHECK(!error.empty());
    if (st == ParseStatus::TooLarge) FUZZ_CHECK(data.size() >= (data[0] == 'P' ? kMaxV1Bytes : 16));
    return;
  }
  if (st == ParseStatus::NeedMore) {
    FUZZ_CHECK(data.size() < bound(data));
    return;
  }
  FUZZ_CHECK(h.version == 1 || h.version == 2);
  FUZZ_CHECK(h.length > 0 && h.length <= data.size());
  FUZZ_CHECK(h.length <= (h.version == 1 ? kMaxV1Bytes : kMaxV2Bytes));
  std::string_view header = data.substr(0, h.length);
  Header again;
  FUZZ_CHECK(parse(header, again) == ParseStatus::Done && same_header(again, h));
  for (size_t n = 0; n < header.size(); ++n) FUZZ_CHECK(parse(header.substr(0, n), again) == ParseStatus::NeedMore);
  if (!h.local) {
    FUZZ_CHECK(h.src.family() == h.dst.family());
    FUZZ_CHECK(h.src.family() == AF_INET || h.src.family() == AF_INET6);
    check_rebuilt(h.src, h.dst, {}, {});
  }
}

// Addresses and TLV values cut from the input: b0 picks the families, then 16 + 16 address
// bytes, 2 + 2 port bytes, an authority length byte, the authority, the rest the ALPN.
void fuzz_build(std::string_view data) {
  if (data.size() < 38) return;
  auto byte = [&](size_t i) { return static_cast<uint8_t>(data[i]); };
  SockAddr a[2];
  for (int i = 0; i < 2; ++i) {
    bool v6 = (byte(0) >> i) & 1;
    uint16_t port = static_cast<uint16_t>(byte(33 + 2 * i) << 8 | byte(34 + 2 * i));
    if (v6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&a[i].storage);
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(port);
      std::memcpy(&in6->sin6_addr, data.data() + 1 + 16 * i, 16);
      a[i].len = sizeof(sockaddr_in6);
    } else {
      auto* in = reinterpret_cast<sockaddr_in*>(&a[i].storage);
      in->sin_family = AF_INET;
      in->sin_port = htons(port);
      std::memcpy(&in->sin_addr, data.data() + 1 + 16 * i, 4);
      a[i].len = sizeof(sockaddr_in);
    }
  }
  std::string_view rest = data.substr(38);
  size_t n = std::min<size_t>(byte(37) * 2u, rest.size());
  check_rebuilt(a[0], a[1], rest.substr(0, n), rest.substr(n));
  // A null address: UNKNOWN and LOCAL, whatever the TLV values.
  std::string local;
  append_v1(local, &a[0], nullptr);
  append_v2(local, nullptr, &a[1], rest, rest);
  Header h;
  FUZZ_CHECK(parse(local, h) == ParseStatus::Done && h.local && h.version == 1 && h.length == 15);
  FUZZ_CHECK(parse(std::string_view(local).substr(15), h) == ParseStatus::Done && h.local && h.length == 16);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) {
    // An empty view with a null data pointer, as an empty Buffer gives.
    Header h;
    FUZZ_CHECK(parse({}, h) == ParseStatus::NeedMore);
    return 0;
  }
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  fuzz_parse(data);
  fuzz_build(data);
  return 0;
}
