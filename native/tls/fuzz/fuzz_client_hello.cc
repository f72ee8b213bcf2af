// libFuzzer harness for native/tls (built by CMakeLists.txt, run by scripts/fuzz.sh).
//
// The first input byte seeds how the rest is split into feeds: b0 % 8 picks the largest piece
// (1 byte ... 4 KiB), b0 the pseudo-random sequence of piece sizes (empty feeds included).
// Besides "no crash, no sanitizer report", it checks what client_hello.h promises, and aborts
// when a promise is broken:
//  - the verdict and what was read are the same fed whole, in the split and one byte at a time;
//  - the verdict is decided at one byte: the input up to it gives the same result, one byte
//    less gives NeedMore; NeedMore never follows a verdict, and feeds after it change nothing;
//  - consumed() is at most the input's size, and whole feeds up to the verdict;
//  - NeedMore only while within kMaxInputBytes;
//  - a Done hello's SNI is 1..253 of [a-z0-9._-] without a trailing dot, its ALPN at most
//    kMaxAlpn names of 1..255 bytes; anything but Done leaves hello() empty.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../client_hello.h"
#include "../../testing/fuzz_check.h"

namespace {

using namespace epoxy::tls;

constexpr size_t kLargestPiece[] = {1, 2, 3, 7, 16, 64, 512, 4096};

bool same(const ClientHelloReader& a, const ClientHelloReader& b) {
  return a.status() == b.status() && a.hello().has_sni == b.hello().has_sni && a.hello().sni == b.hello().sni &&
         a.hello().alpn == b.hello().alpn;
}

bool sni_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'; }

void check_hello(const ClientHelloReader& r) {
  const ClientHello& h = r.hello();
  if (r.status() != HelloStatus::Done) {
    FUZZ_CHECK(!h.has_sni && h.sni.empty() && h.alpn.empty());
    return;
  }
  FUZZ_CHECK(h.has_sni == !h.sni.empty());
  FUZZ_CHECK(h.sni.size() <= 253);
  FUZZ_CHECK(h.sni.empty() || h.sni.back() != '.');
  FUZZ_CHECK(std::all_of(h.sni.begin(), h.sni.end(), sni_char));
  FUZZ_CHECK(h.alpn.size() <= kMaxAlpn);
  for (const auto& p : h.alpn) FUZZ_CHECK(!p.empty() && p.size() <= 255);
}

// Feeds data in pieces from a small LCG; checks each step against the one before. Returns the
// byte count at which the verdict came (0: none).
size_t feed_split(ClientHelloReader& r, const uint8_t* data, size_t size, uint8_t b0) {
  uint32_t seed = b0;
  size_t largest = kLargestPiece[b0 % 8];
  size_t verdict_at = 0;
  for (size_t at = 0; at < size;) {
    seed = seed * 1103515245u + 12345u;
    size_t piece = std::min<size_t>((seed >> 16) % (largest + 1), size - at);
    HelloStatus before = r.status();
    size_t consumed_before = r.consumed();
    HelloStatus now = r.feed(data + at, piece);
    FUZZ_CHECK(now == r.status());
    if (before != HelloStatus::NeedMore) {
      FUZZ_CHECK(now == before && r.consumed() == consumed_before);
    } else {
      FUZZ_CHECK(r.consumed() == consumed_before + piece);
      if (now != HelloStatus::NeedMore) verdict_at = at + piece;
    }
    at += piece;
  }
  return verdict_at;
}

// The byte count at which one-byte feeds reach the verdict (0: none).
size_t verdict_byte(const uint8_t* data, size_t size, ClientHelloReader& r) {
  for (size_t i = 0; i < size; ++i) {
    if (r.feed(data + i, 1) != HelloStatus::NeedMore) return i + 1;
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) {
    ClientHelloReader r;
    FUZZ_CHECK(r.feed(nullptr, 0) == HelloStatus::NeedMore && r.consumed() == 0);
    return 0;
  }
  const uint8_t b0 = bytes[0];
  const uint8_t* data = bytes + 1;
  const size_t n = size - 1;

  ClientHelloReader whole;
  whole.feed(data, n);
  FUZZ_CHECK(whole.consumed() == n);
  check_hello(whole);
  if (whole.status() == HelloStatus::NeedMore) FUZZ_CHECK(n <= kMaxInputBytes);

  ClientHelloReader split;
  size_t split_verdict = feed_split(split, data, n, b0);
  FUZZ_CHECK(same(split, whole));
  FUZZ_CHECK(split.consumed() <= n);
  FUZZ_CHECK((split_verdict == 0) == (split.status() == HelloStatus::NeedMore));
  if (split_verdict != 0) FUZZ_CHECK(split.consumed() == split_verdict);

  ClientHelloReader bytewise;
  size_t at = verdict_byte(data, n, bytewise);
  FUZZ_CHECK(same(bytewise, whole));
  if (at == 0) return 0;
  FUZZ_CHECK(bytewise.consumed() == at && at <= split_verdict);

  // Decided at byte `at`: exactly the bytes up to it give the verdict, one fewer does not.
  ClientHelloReader upto;
  upto.feed(data, at);
  FUZZ_CHECK(same(upto, whole));
  ClientHelloReader shorter;
  shorter.feed(data, at - 1);
  FUZZ_CHECK(shorter.status() == HelloStatus::NeedMore);
  return 0;
}
