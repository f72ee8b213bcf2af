// libFuzzer harness for native/http (built by CMakeLists.txt, run by scripts/fuzz.sh).
//
// The first input byte picks what the rest is:
//   b0 % 4 == 0 or 1   a request head         parse_request
//   b0 % 4 == 2        a response head        parse_response, request method = kMethods[b0 / 4 % 5]
//   b0 % 4 == 3        a chunked body         ChunkedDecoder, fed in splits seeded by b0
// Besides "no crash, no sanitizer report", it checks what the API promises, and aborts when a
// promise is broken:
//  - a Done head lies within the input and max_head; all its views point into it;
//  - parsing exactly the head's bytes gives the same head (bytes after it don't matter);
//  - every proper prefix of a Done head is Incomplete;
//  - find_head_end, fed in pieces, finds the same end as the parse;
//  - the chunked decoder's verdict, data and length are the same whatever the split, and when
//    chunk data is moved with skip_data() (splice) instead of being fed.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../chunked.h"
#include "../parser.h"
#include "../../testing/fuzz_check.h"

namespace {

using namespace epoxy::http;

// Small limits, so that 431 and max_headers are reachable with libFuzzer's input sizes.
constexpr Limits kLimits{2048, 32};
constexpr std::string_view kMethods[] = {"GET", "HEAD", "CONNECT", "POST", "OPTIONS"};

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

void check_views(const std::vector<Header>& headers, std::string_view head) {
  for (const Header& h : headers) {
    FUZZ_CHECK(inside(h.name, head) && inside(h.value, head) && !h.name.empty());
  }
}

// find_head_end in pieces of `piece` bytes must agree with a one-shot call.
size_t find_in_pieces(std::string_view data, size_t piece) {
  size_t scan = 0;
  for (size_t have = 0; have < data.size();) {
    have = std::min(data.size(), have + piece);
    size_t end = find_head_end(data.substr(0, have), scan);
    if (end != 0) return end;
  }
  return 0;
}

void check_head_end(std::string_view data, size_t head_len) {
  size_t scan = 0;
  FUZZ_CHECK(find_head_end(data, scan) == head_len);
  FUZZ_CHECK(find_in_pieces(data, 1) == head_len);
  FUZZ_CHECK(find_in_pieces(data, 7) == head_len);
}

void fuzz_request(std::string_view data) {
  RequestHead head;
  ParseError err;
  ParseStatus st = parse_request(data, kLimits, head, err);
  if (st == ParseStatus::Error) {
    FUZZ_CHECK(err.status == 400 || err.status == 431 || err.status == 501 || err.status == 505);
    FUZZ_CHECK(err.reason != nullptr && *err.reason != '\0');
    return;
  }
  if (st == ParseStatus::Incomplete) {
    FUZZ_CHECK(data.size() < kLimits.max_head);
    return;
  }
  std::string_view bytes = data.substr(0, head.head_len);
  FUZZ_CHECK(head.head_len <= data.size() && head.head_len <= kLimits.max_head);
  FUZZ_CHECK(!head.method.empty() && !head.target.empty() && inside(head.method, bytes) && inside(head.target, bytes));
  FUZZ_CHECK(inside(head.host, bytes));
  FUZZ_CHECK(head.minor == 0 || head.minor == 1);
  FUZZ_CHECK(head.headers.size() <= kLimits.max_headers);
  check_views(head.headers, bytes);
  FUZZ_CHECK(head.framing != Framing::UntilClose);
  check_head_end(data, head.head_len);

  RequestHead again;
  FUZZ_CHECK(parse_request(bytes, kLimits, again, err) == ParseStatus::Done);
  FUZZ_CHECK(again.head_len == head.head_len && again.headers.size() == head.headers.size() &&
             again.framing == head.framing && again.content_length == head.content_length &&
             again.keep_alive == head.keep_alive && again.host == head.host);
  for (size_t n : {size_t{0}, head.head_len / 3, head.head_len / 2, head.head_len - 2, head.head_len - 1}) {
    if (n >= head.head_len) continue;
    FUZZ_CHECK(parse_request(bytes.substr(0, n), kLimits, again, err) == ParseStatus::Incomplete);
  }
  // normalize_host accepts every host the parser let through; only "." (and ".:port")
  // normalizes to nothing.
  FUZZ_CHECK(head.host.empty() || !normalize_host(head.host).empty() || head.host[0] == '.');
}

void fuzz_response(std::string_view method, std::string_view data) {
  ResponseHead head;
  ParseError err;
  ParseStatus st = parse_response(data, method, kLimits, head, err);
  if (st == ParseStatus::Error) {
    FUZZ_CHECK(err.status == 502 && err.reason != nullptr);
    return;
  }
  if (st == ParseStatus::Incomplete) {
    FUZZ_CHECK(data.size() < kLimits.max_head);
    return;
  }
  std::string_view bytes = data.substr(0, head.head_len);
  FUZZ_CHECK(head.head_len <= data.size() && head.head_len <= kLimits.max_head);
  FUZZ_CHECK(head.status >= 100 && head.status <= 999);
  FUZZ_CHECK(inside(head.reason, bytes));
  check_views(head.headers, bytes);
  FUZZ_CHECK(!head.tunnel || head.framing == Framing::None);
  FUZZ_CHECK(!(head.framing == Framing::UntilClose && head.keep_alive));
  if (method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304) {
    FUZZ_CHECK(head.framing == Framing::None);
  }
  check_head_end(data, head.head_len);

  ResponseHead again;
  FUZZ_CHECK(parse_response(bytes, method, kLimits, again, err) == ParseStatus::Done);
  FUZZ_CHECK(again.head_len == head.head_len && again.framing == head.framing && again.status == head.status);
  if (head.head_len > 0) {
    FUZZ_CHECK(parse_response(bytes.substr(0, head.head_len - 1), method, kLimits, again, err) == ParseStatus::Incomplete);
  }
}

struct Decoded {
  ChunkedKind end = ChunkedKind::NeedMore;
  std::string data;
  size_t consumed = 0;
  size_t trailers = 0;
};

// Plays a session: bytes arrive in pieces (sizes from a small LCG), unconsumed bytes stay at
// the front of its buffer, and with `splice` chunk data is moved past the decoder.
Decoded decode(ChunkedDecoder& d, std::string_view body, uint32_t seed, bool splice) {
  Decoded out;
  std::string pending;
  size_t offset = 0;
  while (true) {
    if (splice && d.data_left() > 0 && !pending.empty()) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(d.data_left(), pending.size()));
      out.data.append(pending, 0, n);
      pending.erase(0, n);
      out.consumed += n;
      d.skip_data(n);
      continue;
    }
    size_t before = d.data_left();
    ChunkedStep step = d.feed(pending);
    FUZZ_CHECK(step.consumed <= pending.size());
    switch (step.kind) {
      case ChunkedKind::NeedMore: {
        FUZZ_CHECK(step.consumed == 0);
        if (offset >= body.size()) return out;
        seed = seed * 1103515245u + 12345u;
        size_t piece = seed == 0 ? body.size() : 1 + (seed >> 16) % 64;
        pending.append(body.substr(offset, piece));
        offset += std::min(piece, body.size() - offset);
        continue;
      }
      case ChunkedKind::Data:
        FUZZ_CHECK(step.consumed > 0 && step.consumed <= before && step.data_left == before - step.consumed);
        out.data.append(pending, 0, step.consumed);
        break;
      case ChunkedKind::Meta:
      case ChunkedKind::Trailers:
        FUZZ_CHECK(step.consumed > 0);
        if (step.kind == ChunkedKind::Trailers) {
          std::string_view section(pending.data(), step.consumed);
          for (const Header& h : d.trailers()) FUZZ_CHECK(inside(h.name, section) && inside(h.value, section));
          out.trailers = d.trailers().size();
          std::string forwarded;
          d.append_allowed_trailers(forwarded);
          // Allowed fields go out as "name: value" (one SP added when the sender had none).
          FUZZ_CHECK(forwarded.size() >= 2 && forwarded.size() <= step.consumed + d.trailers().size());
        }
        break;
      case ChunkedKind::Done:
      case ChunkedKind::Error:
        FUZZ_CHECK(step.consumed == 0);
        FUZZ_CHECK(step.kind == ChunkedKind::Done ? d.done() : (d.failed() && d.error().status == 400));
        out.end = step.kind;
        return out;
    }
    pending.erase(0, step.consumed);
    out.consumed += step.consumed;
  }
}

void fuzz_chunked(uint8_t seed, std::string_view body) {
  ChunkedDecoder d(kLimits);
  Decoded whole = decode(d, body, 0, false);
  d.reset();  // a session reuses its decoder for the next body: no state may leak through
  Decoded split = decode(d, body, seed, false);
  ChunkedDecoder fresh(kLimits);
  Decoded spliced = decode(fresh, body, seed ^ 0x5a, true);
  for (const Decoded* r : {&split, &spliced}) {
    FUZZ_CHECK(r->end == whole.end);
    FUZZ_CHECK(r->trailers == whole.trailers);
    if (whole.end != ChunkedKind::Error) {
      FUZZ_CHECK(r->consumed == whole.consumed);
      FUZZ_CHECK(r->data == whole.data);
    }
  }
  FUZZ_CHECK(whole.consumed <= body.size() && whole.data.size() <= whole.consumed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) {
    // An empty view with a null data pointer, as an empty Buffer gives: no null to memchr.
    fuzz_request({});
    fuzz_response("GET", {});
    fuzz_chunked(0, {});
    return 0;
  }
  uint8_t b0 = bytes[0];
  std::string_view rest(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  switch (b0 % 4) {
    case 0:
    case 1:
      fuzz_request(rest);
      break;
    case 2:
      fuzz_response(kMethods[(b0 / 4) % 5], rest);
      break;
    default:
      fuzz_chunked(b0, rest);
      break;
  }
  // normalize_host on whatever the input is: never more than its input, never uppercase.
  std::string host = normalize_host(rest.substr(0, 64));
  FUZZ_CHECK(host.size() <= std::min<size_t>(rest.size(), 64));
  for (char c : host) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  return 0;
}
