// ChunkedDecoder: a resumable reader of a chunked message body (RFC 9112 §7.1) for a proxy
// that forwards the body as is. It never copies or buffers: each feed() says how many of the
// given bytes are chunk data and how many are framing, the caller forwards both unchanged —
// except the trailer section, which it must filter (trailers() / forbidden_trailers()).
//
// Contract:
//  - feed(in) looks at a prefix of `in` and returns one step: `consumed` bytes of one kind.
//    The caller forwards (or drops) those bytes and calls again with the rest. Bytes not
//    consumed must be passed again, first, in the next call (as a receive buffer naturally
//    does): the decoder remembers how far it already examined them (`pending`), so a framing
//    line that trickles in byte by byte is still scanned once.
//  - Data steps never cover more than the current chunk. `data_left` says how many data bytes
//    the current chunk still owes after the step; a caller that wants to splice large chunk
//    data can move up to data_left() bytes socket-to-socket without showing them to the
//    decoder, then report them with skip_data(n).
//  - Meta steps cover only complete, validated framing: chunk-size lines (with extensions),
//    the CRLF after chunk data, the last-chunk line. Several may be merged into one step.
//  - After the last-chunk line comes exactly one Trailers step covering the trailer section
//    and the final CRLF ("\r\n" alone when there are no trailers), then Done. The trailer
//    views point into the `in` of that Trailers step.
//  - Errors (400; a session reading a response maps them to 502) are final: reset() first.
//
// Stricter than RFC 9112 on purpose (each one a known smuggling differential): no whitespace
// anywhere in a chunk-size line (the RFC's BWS around ';' and '='), at most 16 hex digits in a
// chunk size (leading zeros included), no empty extension, chunk-size lines at most 4096
// bytes, CRLF only (bare LF or CR is an error), the data must be followed by exactly CRLF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "parser.h"

namespace epoxy::http {

enum class ChunkedKind : uint8_t {
  NeedMore,  // `in` ends inside a framing element (or is empty): call again with more bytes
  Data,      // `consumed` bytes of chunk data
  Meta,      // `consumed` bytes of framing, validated
  Trailers,  // `consumed` bytes: the whole trailer section and the final CRLF
  Done,      // the body is complete; bytes after it belong to the next message (consumed 0)
  Error,     // see error() (consumed 0)
};

struct ChunkedStep {
  size_t consumed = 0;
  ChunkedKind kind = ChunkedKind::NeedMore;
  uint64_t data_left = 0;  // data bytes the current chunk still owes after this step
};

// Trailer fields a proxy must not forward (RFC 9110 §6.5.1: fields that frame the message,
// route it, control the connection, authenticate, or that a recipient would have needed before
// the content), plus the forwarding fields the proxy itself adds. Case-insensitive.
bool forbidden_trailer(std::string_view name);

class ChunkedDecoder {
 public:
  static constexpr size_t kMaxChunkLine = 4096;

  explicit ChunkedDecoder(const Limits& limits = {}) : limits_(limits) {}

  ChunkedStep feed(std::string_view in);

  // Data bytes of the current chunk not yet consumed (0 outside chunk data).
  uint64_t data_left() const { return state_ == State::Data ? data_left_ : 0; }
  // The caller moved `n` <= data_left() chunk data bytes itself (splice).
  void skip_data(uint64_t n);

  bool done() const { return state_ == State::Done; }
  bool failed() const { return state_ == State::Error; }
  const ParseError& error() const { return error_; }

  // The fields of the trailer section, valid after the Trailers step while its bytes are.
  const std::vector<Header>& trailers() const { return trailers_; }
  // How many of them forbidden_trailer() refuses: 0 means the section can go out as is.
  size_t forbidden_trailers() const { return forbidden_; }
  // The section without forbidden fields, ready to forward: "name: value\r\n"... "\r\n".
  void append_allowed_trailers(std::string& out) const;

  // For the next chunked body (keeps the trailer vector's capacity).
  void reset();

 private:
  // Invariants: `pending_` bytes at the head of the next `in` were examined already (the
  // state below reflects them); `data_left_` > 0 exactly in State::Data; size_/digits_/
  // line_len_ describe the chunk-size line being read.
  enum class State : uint8_t {
    Size,            // chunk-size digits
    ExtOrEnd,        // after the size or an extension: ';' or CR
    ExtName,         // extension name (token)
    ExtValueStart,   // after '=': token or quoted-string
    ExtToken,        // token value
    ExtQuoted,       // inside a quoted-string
    ExtQuotedPair,   // after a backslash in a quoted-string
    LineLf,          // CR seen, LF expected
    Data,            // chunk data
    DataCr,          // CR after chunk data expected
    DataLf,          // LF after chunk data expected
    Trailers,        // trailer section
    Done,
    Error,
  };

  // What one byte of framing did: ElementEnd after the LF of a chunk-size line or of the CRLF
  // after chunk data; Error with error_ set.
  enum class ByteResult : uint8_t { Continue, ElementEnd, Error };

  ChunkedStep framing(std::string_view in);
  ChunkedStep trailer_section(std::string_view in);
  ByteResult step(char c);
  ChunkedStep fail(int status, const char* reason);

  Limits limits_;
  State state_ = State::Size;
  size_t pending_ = 0;
  uint64_t data_left_ = 0;
  uint64_t size_ = 0;
  unsigned digits_ = 0;
  size_t name_len_ = 0;
  size_t line_len_ = 0;
  ParseError error_;
  std::vector<Header> trailers_;
  size_t forbidden_ = 0;
};

}  // namespace epoxy::http
