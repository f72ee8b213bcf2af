// The chunked decoder: a byte-at-a-time state machine for the framing lines (they are short),
// whole spans for chunk data, and one incremental scan plus one parse for the trailer section.
#include "chunked.h"

#include <algorithm>
#include <cstring>

#include "syntax.h"

namespace epoxy::http {
namespace {

using syntax::has;

constexpr int kBadRequest = 400;

// A CR is the start of a line end in a chunk-size line, so a misplaced one gets the rule's own
// reason; an LF anywhere but after a CR is the bare-LF rule.
const char* framing_char_reason(char c, const char* generic) {
  if (c == '\n') return "bare LF in chunk framing";
  if (c == '\0') return "NUL byte";
  return generic;
}

}  // namespace

bool forbidden_trailer(std::string_view name) {
  static constexpr std::string_view kExact[] = {
      // framing and the trailer list itself
      "content-length", "transfer-encoding", "trailer",
      // routing and connection control
      "host", "connection", "keep-alive", "te", "upgrade", "forwarded", "via",
      // authentication and state
      "authorization", "www-authenticate", "cookie", "set-cookie",
      // request modifiers (RFC 9110 §6.5.1: controls and conditionals)
      "cache-control", "expect", "max-forwards", "pragma", "range",
      // response control data
      "age", "expires", "date", "location", "retry-after", "vary", "warning",
      // how to process the content, needed before it
      "content-encoding", "content-type", "content-range",
  };
  static constexpr std::string_view kPrefixes[] = {"proxy-", "if-", "x-forwarded-"};
  for (std::string_view f : kExact) {
    if (syntax::equals_ci(name, f)) return true;
  }
  for (std::string_view p : kPrefixes) {
    if (syntax::starts_with_ci(name, p)) return true;
  }
  return false;
}

ChunkedStep ChunkedDecoder::feed(std::string_view in) {
  switch (state_) {
    case State::Data: {
      if (in.empty()) return {0, ChunkedKind::NeedMore, data_left_};
      uint64_t n = std::min<uint64_t>(in.size(), data_left_);
      data_left_ -= n;
      if (data_left_ == 0) state_ = State::DataCr;
      return {static_cast<size_t>(n), ChunkedKind::Data, data_left_};
    }
    case State::Trailers:
      return trailer_section(in);
    case State::Done:
      return {0, ChunkedKind::Done, 0};
    case State::Error:
      return {0, ChunkedKind::Error, 0};
    default:
      return framing(in);
  }
}

void ChunkedDecoder::skip_data(uint64_t n) {
  if (state_ != State::Data || n > data_left_) {
    fail(kBadRequest, "skip_data past the current chunk");
    return;
  }
  data_left_ -= n;
  if (data_left_ == 0) state_ = State::DataCr;
}

ChunkedStep ChunkedDecoder::fail(int status, const char* reason) {
  state_ = State::Error;
  error_ = {status, reason};
  return {0, ChunkedKind::Error, 0};
}

// Runs the framing bytes through step() until chunk data or the trailer section begins, or the
// input ends. Everything up to the last complete element is one Meta step; a partial element
// stays pending (examined, not consumed).
ChunkedStep ChunkedDecoder::framing(std::string_view in) {
  if (pending_ > in.size()) return fail(kBadRequest, "decoder fed fewer bytes than it had examined");
  size_t i = pending_;
  size_t complete = 0;
  while (i < in.size()) {
    ByteResult r = step(in[i++]);
    if (r == ByteResult::Error) return {0, ChunkedKind::Error, 0};
    if (r == ByteResult::ElementEnd) {
      complete = i;
      if (state_ != State::Size) break;  // chunk data or trailers follow: a different kind
    }
  }
  pending_ = i - complete;
  if (complete == 0) return {0, ChunkedKind::NeedMore, 0};
  return {complete, ChunkedKind::Meta, data_left()};
}

// One byte of a chunk-size line or of the CRLF after chunk data (RFC 9112 §7.1, §7.1.1):
//   chunk-size [ *( ";" ext-name [ "=" ( token / quoted-string ) ] ) ] CRLF
ChunkedDecoder::ByteResult ChunkedDecoder::step(char c) {
  auto error = [&](const char* reason) {
    fail(kBadRequest, framing_char_reason(c, reason));
    return ByteResult::Error;
  };
  constexpr ByteResult kContinue = ByteResult::Continue;
  constexpr ByteResult kEnd = ByteResult::ElementEnd;

  if (state_ <= State::LineLf && ++line_len_ > kMaxChunkLine) {
    fail(kBadRequest, "chunk-size line too long");  // the length is the fault, whatever this byte is
    return ByteResult::Error;
  }
  switch (state_) {
    case State::Size:
      if (has(c, syntax::kHex)) {
        if (++digits_ > 16) return error("chunk size has more than 16 hex digits");
        size_ = (size_ << 4) | static_cast<uint64_t>(syntax::hex_value(c));
        return kContinue;
      }
      if (digits_ == 0) return error("invalid chunk size");
      [[fallthrough]];
    case State::ExtOrEnd:
      if (c == ';') {
        name_len_ = 0;
        state_ = State::ExtName;
      } else if (c == '\r') {
        state_ = State::LineLf;
      } else {
        return error(state_ == State::Size ? "invalid character after chunk size" : "invalid chunk extension");
      }
      return kContinue;
    case State::ExtName:
      if (has(c, syntax::kTchar)) {
        ++name_len_;
        return kContinue;
      }
      if (name_len_ == 0) return error("empty chunk extension name");
      if (c == '=') state_ = State::ExtValueStart;
      else if (c == ';') name_len_ = 0;
      else if (c == '\r') state_ = State::LineLf;
      else return error("invalid chunk extension name");
      return kContinue;
    case State::ExtValueStart:
      if (has(c, syntax::kTchar)) state_ = State::ExtToken;
      else if (c == '"') state_ = State::ExtQuoted;
      else return error("invalid chunk extension value");
      return kContinue;
    case State::ExtToken:
      if (has(c, syntax::kTchar)) return kContinue;
      if (c == ';') {
        name_len_ = 0;
        state_ = State::ExtName;
      } else if (c == '\r') {
        state_ = State::LineLf;
      } else {
        return error("invalid chunk extension value");
      }
      return kContinue;
    case State::ExtQuoted:
      if (c == '"') state_ = State::ExtOrEnd;
      else if (c == '\\') state_ = State::ExtQuotedPair;
      else if (!has(c, syntax::kQdtext)) return error("invalid character in quoted chunk extension");
      return kContinue;
    case State::ExtQuotedPair:
      if (!has(c, syntax::kFieldValue)) return error("invalid quoted-pair in chunk extension");
      state_ = State::ExtQuoted;
      return kContinue;
    case State::LineLf:
      if (c != '\n') return error("bare CR in chunk framing");
      if (size_ == 0) {
        state_ = State::Trailers;
      } else {
        state_ = State::Data;
        data_left_ = size_;
      }
      size_ = 0;
      digits_ = 0;
      line_len_ = 0;
      return kEnd;
    case State::DataCr:
      if (c != '\r') return error("chunk data not followed by CRLF");
      state_ = State::DataLf;
      return kContinue;
    case State::DataLf:
      if (c != '\n') return error("chunk data not followed by CRLF");
      state_ = State::Size;
      return kEnd;
    default:
      return error("chunked decoder misused");
  }
}

// The trailer section: field lines, then an empty line. Its end is found incrementally (the
// scan cursor is `pending_`), then the section is parsed once, with the head's field rules.
ChunkedStep ChunkedDecoder::trailer_section(std::string_view in) {
  size_t end = 0;
  if (in.size() >= 2 && in[0] == '\r' && in[1] == '\n') {
    end = 2;
  } else if (!in.empty() && in[0] == '\n') {
    return fail(kBadRequest, "bare LF in chunk framing");
  } else {
    std::string_view window = in.substr(0, std::min(in.size(), limits_.max_head));
    end = syntax::find_empty_line_end(window, pending_, 0);
    if (end == 0) {
      if (in.size() >= limits_.max_head) return fail(kBadRequest, "trailer section too large");
      return {0, ChunkedKind::NeedMore, 0};
    }
  }
  trailers_.clear();
  forbidden_ = 0;
  size_t pos = 0;
  while (true) {
    const char* lf = static_cast<const char*>(std::memchr(in.data() + pos, '\n', end - pos));
    size_t at = static_cast<size_t>(lf - in.data());
    if (at == pos || in[at - 1] != '\r') return fail(kBadRequest, "bare LF (line not ended by CRLF)");
    std::string_view line = in.substr(pos, at - 1 - pos);
    pos = at + 1;
    if (line.empty()) break;  // the empty line find_empty_line_end stopped at: pos == end
    if (trailers_.size() >= limits_.max_headers) return fail(kBadRequest, "too many trailer fields");
    Header h;
    if (!syntax::parse_field_line(line, kBadRequest, h, error_)) return fail(error_.status, error_.reason);
    trailers_.push_back(h);
    if (forbidden_trailer(h.name)) ++forbidden_;
  }
  state_ = State::Done;
  pending_ = 0;
  return {end, ChunkedKind::Trailers, 0};
}

void ChunkedDecoder::append_allowed_trailers(std::string& out) const {
  for (const Header& h : trailers_) {
    if (forbidden_trailer(h.name)) continue;
    out.append(h.name);
    out.append(": ");
    out.append(h.value);
    out.append("\r\n");
  }
  out.append("\r\n");
}

void ChunkedDecoder::reset() {
  state_ = State::Size;
  pending_ = 0;
  data_left_ = 0;
  size_ = 0;
  digits_ = 0;
  name_len_ = 0;
  line_len_ = 0;
  error_ = {};
  trailers_.clear();
  forbidden_ = 0;
}

}  // namespace epoxy::http
