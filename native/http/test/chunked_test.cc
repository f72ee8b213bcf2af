// The chunked decoder (chunked.h): RFC 9112 §7.1 chunked coding — chunk sizes, chunk
// extensions (§7.1.1), the trailer section (§7.1.2) and which trailers a proxy drops — fed
// whole and in pieces, the step contract (Meta/Data/Trailers/Done, skip_data for splicing),
// and one case per rejection of ChunkedDecoder::step and trailer_section.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "testing/http_support.h"

using namespace std::literals;
using epoxy::http::ChunkedDecoder;
using epoxy::http::ChunkedKind;
using epoxy::http::forbidden_trailer;
using epoxy::http::testing::chunked_rejection;
using epoxy::http::testing::decode;
using epoxy::http::testing::DecodeOptions;
using epoxy::http::testing::decoded;
using epoxy::http::testing::Fields;
using epoxy::http::testing::Rejection;

namespace {

DecodeOptions pieces(size_t n) {
  DecodeOptions o;
  o.piece = n;
  return o;
}

// One chunk of `data` then the last chunk: for the trailer and size-line cases.
std::string one_chunk(std::string_view size_line, std::string_view data = "x") {
  return std::string(size_line) + "\r\n" + std::string(data) + "\r\n0\r\n\r\n";
}

std::string trailer_section(std::string_view field_line) { return "0\r\n" + std::string(field_line) + "\r\n\r\n"; }

}  // namespace

// ---- decoding ----

TEST_CASE("RFC 9112 §7.1 chunked body: the classic example decodes, in any piece size") {
  const std::string s = "4\r\nWiki\r\n7\r\npedia i\r\nB\r\nn \r\nchunks.\r\n0\r\n\r\n";
  for (size_t piece : {1, 2, 3, 1000}) {
    CAPTURE(piece);
    auto r = decoded(s, pieces(piece));
    CHECK(r.data == "Wikipedia in \r\nchunks.");
    CHECK(r.consumed == s.size());
  }
}

TEST_CASE("one-byte chunks, fed one byte at a time") {
  const std::string body = "hello world";
  std::string s;
  for (char c : body) s += "1\r\n" + std::string(1, c) + "\r\n";
  s += "0\r\n\r\n";
  for (size_t piece : {size_t{1}, size_t{2}, size_t{5}, s.size()}) {
    CAPTURE(piece);
    auto r = decoded(s, pieces(piece));
    CHECK(r.data == body);
    CHECK(r.consumed == s.size());
  }
}

TEST_CASE("RFC 9112 §7.1: last-chunk is one or more zeros, and may carry extensions") {
  CHECK(decoded("000\r\n\r\n").data.empty());
  CHECK(decoded("2\r\nab\r\n0;done=1\r\n\r\n").data == "ab");
}

TEST_CASE("RFC 9112 §7.1.1 extensions: tokens, quoted strings with escapes, several per line") {
  auto r = decoded("5;a=b;c;d=\"x \\\" y\";e=1\r\nhello\r\n0;last=yes\r\n\r\n", pieces(1));
  CHECK(r.data == "hello");
  // qdtext includes HTAB, ';', '=' and obs-text; a quoted-pair may escape any field-vchar.
  CHECK(decoded("1;q=\"\t;=\xe9\\\\\\a\"\r\nx\r\n0\r\n\r\n").data == "x");
}

TEST_CASE("upper- and lowercase hex, leading zeros up to 16 digits") {
  CHECK(decoded("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n").data.size() == 20);
  CHECK(decoded("000000000000000A\r\n0123456789\r\n0\r\n\r\n").data == "0123456789");
}

TEST_CASE("the largest chunk size is accepted and awaits its data") {
  auto r = decode("FFFFFFFFFFFFFFFF\r\nabc");
  CHECK(r.last == ChunkedKind::Data);  // then NeedMore: the input ran out inside the chunk
  CHECK(r.data == "abc");
  CHECK(r.error == Rejection{});
}

TEST_CASE("a chunk-size line of exactly 4096 bytes is accepted") {
  const std::string line = "1;" + std::string(ChunkedDecoder::kMaxChunkLine - 4, 'a');  // + CRLF = 4096
  CHECK(decoded(one_chunk(line)).data == "x");
}

TEST_CASE("framing steps are Meta, data steps never cross a chunk") {
  CHECK(decode("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").steps == "meta data meta data meta trailers done");
}

TEST_CASE("each step: consumed bytes of one kind, data_left of the current chunk") {
  const std::string_view s = "3\r\nabc\r\n10\r\n";
  ChunkedDecoder d;
  auto st = d.feed(s);
  CHECK(st.kind == ChunkedKind::Meta);
  CHECK(st.consumed == 3);  // "3\r\n"
  CHECK(st.data_left == 3);
  st = d.feed(s.substr(3, 2));  // only part of the data has arrived
  CHECK(st.kind == ChunkedKind::Data);
  CHECK(st.consumed == 2);
  CHECK(st.data_left == 1);
  CHECK(d.data_left() == 1);
  st = d.feed(s.substr(5));
  CHECK(st.kind == ChunkedKind::Data);
  CHECK(st.consumed == 1);
  st = d.feed(s.substr(6));  // the CRLF after the data and the next size line: one Meta step
  CHECK(st.kind == ChunkedKind::Meta);
  CHECK(st.consumed == 6);
  CHECK(st.data_left == 16);
  CHECK(d.feed("").kind == ChunkedKind::NeedMore);
}

TEST_CASE("a partial framing element is examined once and consumed when complete") {
  ChunkedDecoder d;
  CHECK(d.feed("1").kind == ChunkedKind::NeedMore);
  CHECK(d.feed("1;a").kind == ChunkedKind::NeedMore);  // the same bytes again, first, plus new ones
  auto st = d.feed("1;a\r\nx");
  CHECK(st.kind == ChunkedKind::Meta);
  CHECK(st.consumed == 5);
}

TEST_CASE("splicing: chunk data moved with skip_data") {
  DecodeOptions o = pieces(3);
  o.splice = true;
  auto r = decoded("a\r\n0123456789\r\n4\r\nabcd\r\n0\r\n\r\n", o);
  CHECK(r.data == "0123456789abcd");
  CHECK(r.steps.find("spliced") != std::string::npos);
  CHECK(r.steps.find("data") == std::string::npos);
}

TEST_CASE("bytes after the body are left for the next message") {
  const std::string body = "1\r\nx\r\n0\r\n\r\n";
  auto r = decoded(body + "GET / HTTP/1.1\r\n");
  CHECK(r.consumed == body.size());
}

TEST_CASE("reset() readies the decoder for the next body, also after an error") {
  ChunkedDecoder d;
  CHECK(d.feed("g").kind == ChunkedKind::Error);
  CHECK(d.failed());
  CHECK(d.feed("1\r\n").kind == ChunkedKind::Error);  // errors are final
  d.reset();
  CHECK_FALSE(d.failed());
  CHECK(d.feed("0\r\n").kind == ChunkedKind::Meta);
  CHECK(d.feed("\r\n").kind == ChunkedKind::Trailers);
  CHECK(d.feed("").kind == ChunkedKind::Done);
  CHECK(d.done());
}

TEST_CASE("incomplete bodies stay incomplete") {
  for (std::string_view s : {""sv, "5"sv, "5\r"sv, "5\r\nhel"sv, "5\r\nhello"sv, "5\r\nhello\r"sv, "5\r\nhello\r\n0\r\n"sv,
                             "5\r\nhello\r\n0\r\nX: 1\r\n"sv, "0\r\n\r"sv}) {
    CAPTURE(s);
    CHECK(chunked_rejection(s) == Rejection{0, "incomplete"});
  }
}

// ---- trailers (RFC 9112 §7.1.2, RFC 9110 §6.5) ----

TEST_CASE("trailers are exposed, forbidden ones flagged and dropped when forwarding") {
  const std::string s =
      "1\r\nx\r\n0\r\nX-Checksum: abc\r\nContent-Length: 99\r\nhost: evil\r\nSet-Cookie: a=b\r\n"
      "X-Forwarded-For: 1.2.3.4\r\nServer-Timing: t;dur=1\r\n\r\n";
  for (size_t piece : {size_t{1}, s.size()}) {
    CAPTURE(piece);
    auto r = decoded(s, pieces(piece));
    CHECK(r.trailers == Fields{{"X-Checksum", "abc"}, {"Content-Length", "99"}, {"host", "evil"},
                               {"Set-Cookie", "a=b"}, {"X-Forwarded-For", "1.2.3.4"}, {"Server-Timing", "t;dur=1"}});
    CHECK(r.forbidden == 4);
    CHECK(r.forwarded_trailers == "X-Checksum: abc\r\nServer-Timing: t;dur=1\r\n\r\n");
    CHECK(r.consumed == s.size());
  }
}

TEST_CASE("no trailers: the Trailers step is the final CRLF alone") {
  auto r = decoded("0\r\n\r\n");
  CHECK(r.trailers.empty());
  CHECK(r.forbidden == 0);
  CHECK(r.forwarded_trailers == "\r\n");
}

TEST_CASE("forbidden trailers: framing, routing, connection, auth, controls, content metadata") {
  for (std::string_view name :
       {"Content-Length"sv, "Transfer-Encoding"sv, "Host"sv, "Trailer"sv, "Connection"sv, "Keep-Alive"sv, "TE"sv,
        "Upgrade"sv, "Proxy-Authorization"sv, "Proxy-Connection"sv, "Authorization"sv, "Cookie"sv, "Set-Cookie"sv,
        "Content-Type"sv, "Content-Encoding"sv, "Content-Range"sv, "Cache-Control"sv, "If-Match"sv, "Range"sv,
        "Location"sv, "Via"sv, "Forwarded"sv, "X-Forwarded-Proto"sv}) {
    CAPTURE(name);
    CHECK(decoded(trailer_section(std::string(name) + ": v")).forbidden == 1);
    CHECK(forbidden_trailer(name));
  }
  // Any case, and only whole names or the listed prefixes.
  CHECK(forbidden_trailer("x-FORWARDED-host"));
  CHECK(forbidden_trailer("if-none-match"));
  CHECK_FALSE(forbidden_trailer("Server-Timing"));
  CHECK_FALSE(forbidden_trailer("Content-Lengthy"));
  CHECK_FALSE(forbidden_trailer("Hosts"));
  CHECK_FALSE(forbidden_trailer("ETag"));
}

// ---- rejections (all 400; a session reading a response maps them to 502) ----

TEST_CASE("reject 400 'chunk size has more than 16 hex digits'") {
  const Rejection want{400, "chunk size has more than 16 hex digits"};
  CHECK(chunked_rejection(one_chunk("10000000000000000")) == want);  // 2^64: overflow
  CHECK(chunked_rejection(one_chunk("00000000000000001")) == want);  // 17 digits even with leading zeros
}

TEST_CASE("reject 400 'invalid chunk size': no hex digit first") {
  const Rejection want{400, "invalid chunk size"};
  CHECK(chunked_rejection(one_chunk("g")) == want);   // a bad hex digit
  CHECK(chunked_rejection(one_chunk("-1")) == want);  // a sign
  CHECK(chunked_rejection(one_chunk("+1")) == want);  // a plus sign
  CHECK(chunked_rejection(one_chunk(" 1")) == want);  // a leading space
  CHECK(chunked_rejection(one_chunk("")) == want);    // an empty size
  CHECK(chunked_rejection(one_chunk(";a")) == want);  // an extension without a size
}

TEST_CASE("reject 400 'invalid character after chunk size'") {
  const Rejection want{400, "invalid character after chunk size"};
  CHECK(chunked_rejection(one_chunk("0x1")) == want);   // a 0x prefix
  CHECK(chunked_rejection(one_chunk("1 ")) == want);    // a space after the size
  CHECK(chunked_rejection(one_chunk("1 ;a")) == want);  // a space before an extension (BWS)
}

TEST_CASE("reject 400 'empty chunk extension name'") {
  const Rejection want{400, "empty chunk extension name"};
  CHECK(chunked_rejection(one_chunk("1;")) == want);     // an empty extension
  CHECK(chunked_rejection(one_chunk("1;=b")) == want);   // an extension without a name
  CHECK(chunked_rejection(one_chunk("1;a;;b")) == want);
}

TEST_CASE("reject 400 'invalid chunk extension name'") {
  const Rejection want{400, "invalid chunk extension name"};
  CHECK(chunked_rejection(one_chunk("1;a = b")) == want);  // a space around '=' (BWS)
  CHECK(chunked_rejection(one_chunk("1;a(b")) == want);
}

TEST_CASE("reject 400 'invalid chunk extension value'") {
  const Rejection want{400, "invalid chunk extension value"};
  CHECK(chunked_rejection(one_chunk("1;a=")) == want);     // an empty value
  CHECK(chunked_rejection(one_chunk("1;a==b")) == want);
  CHECK(chunked_rejection(one_chunk("1;a=b c")) == want);  // a space inside a token value
}

TEST_CASE("an invalid byte is reported as soon as it arrives, without waiting for the line end") {
  CHECK(chunked_rejection("5;a=b c"sv) == Rejection{400, "invalid chunk extension value"});
}

TEST_CASE("reject 400 'invalid chunk extension': anything but a semicolon or CRLF after a quoted value") {
  CHECK(chunked_rejection(one_chunk("1;a=\"b\"c")) == Rejection{400, "invalid chunk extension"});
  CHECK(chunked_rejection(one_chunk("1;a=\"b\" ")) == Rejection{400, "invalid chunk extension"});
}

TEST_CASE("reject 400 'invalid character in quoted chunk extension'") {
  const Rejection want{400, "invalid character in quoted chunk extension"};
  CHECK(chunked_rejection(one_chunk("1;a=\"b")) == want);           // unterminated: CR inside the quotes
  CHECK(chunked_rejection(one_chunk("1;a=\"\x01\"")) == want);      // a CTL
  CHECK(chunked_rejection(one_chunk("1;a=\"\x7f\"")) == want);      // DEL
}

TEST_CASE("reject 400 'invalid quoted-pair in chunk extension'") {
  const Rejection want{400, "invalid quoted-pair in chunk extension"};
  CHECK(chunked_rejection(one_chunk("1;a=\"\\\x01\"")) == want);  // an escaped CTL
  CHECK(chunked_rejection(one_chunk("1;a=\"\\\r\"")) == want);    // an escaped CR
}

TEST_CASE("reject 400 'chunk-size line too long'") {
  const std::string line = "1;" + std::string(ChunkedDecoder::kMaxChunkLine - 3, 'a');  // + CRLF = 4097
  CHECK(chunked_rejection(one_chunk(line)) == Rejection{400, "chunk-size line too long"});
  CHECK(chunked_rejection(one_chunk("1;" + std::string(5000, 'a'))) == Rejection{400, "chunk-size line too long"});
}

TEST_CASE("reject 400 'chunk data not followed by CRLF'") {
  const Rejection want{400, "chunk data not followed by CRLF"};
  CHECK(chunked_rejection("1\r\nxy0\r\n\r\n"sv) == want);  // more data than the size said
  CHECK(chunked_rejection("1\r\nx\r0\r\n\r\n"sv) == want);  // only CR after the data
}

TEST_CASE("reject 400 'bare LF in chunk framing'") {
  const Rejection want{400, "bare LF in chunk framing"};
  CHECK(chunked_rejection("1\r\nx\n0\r\n\r\n"sv) == want);   // after the data
  CHECK(chunked_rejection("1\nx\r\n0\r\n\r\n"sv) == want);   // after the size
  CHECK(chunked_rejection("1;a\nx\r\n0\r\n\r\n"sv) == want);  // in an extension
  CHECK(chunked_rejection("0\n\r\n"sv) == want);             // after the last chunk
  CHECK(chunked_rejection("0\r\n\n"sv) == want);             // ending the trailers
  CHECK(chunked_rejection("1;a=\"\n\"\r\nx\r\n0\r\n\r\n"sv) == want);  // inside a quoted value
}

TEST_CASE("reject 400 'bare CR in chunk framing'") {
  CHECK(chunked_rejection("1\rx\r\n0\r\n\r\n"sv) == Rejection{400, "bare CR in chunk framing"});
  CHECK(chunked_rejection("1;a\r\r\nx\r\n0\r\n\r\n"sv) == Rejection{400, "bare CR in chunk framing"});
}

TEST_CASE("reject 400 'NUL byte' in chunk framing") {
  CHECK(chunked_rejection("1\0\r\nx\r\n0\r\n\r\n"sv) == Rejection{400, "NUL byte"});
  CHECK(chunked_rejection("1;a=\"\0\"\r\nx\r\n0\r\n\r\n"sv) == Rejection{400, "NUL byte"});
}

TEST_CASE("reject 400 'skip_data past the current chunk'") {
  const Rejection want{400, "skip_data past the current chunk"};
  ChunkedDecoder d;
  REQUIRE(d.feed("5\r\n").kind == ChunkedKind::Meta);
  d.skip_data(3);
  CHECK(d.data_left() == 2);
  d.skip_data(3);  // only 2 left
  CHECK(d.failed());
  CHECK(Rejection{d.error().status, d.error().reason} == want);
  ChunkedDecoder outside;  // not in chunk data at all
  outside.skip_data(1);
  CHECK(Rejection{outside.error().status, outside.error().reason} == want);
}

TEST_CASE("reject 400 'decoder fed fewer bytes than it had examined'") {
  ChunkedDecoder d;
  REQUIRE(d.feed("5;a").kind == ChunkedKind::NeedMore);
  CHECK(d.feed("5").kind == ChunkedKind::Error);  // the caller dropped examined bytes
  CHECK(Rejection{d.error().status, d.error().reason} == Rejection{400, "decoder fed fewer bytes than it had examined"});
}

TEST_CASE("reject 400 'trailer section too large'") {
  DecodeOptions o;
  o.limits.max_head = 100;
  CHECK(chunked_rejection("0\r\nX-A: " + std::string(200, 'x'), o) == Rejection{400, "trailer section too large"});
  CHECK(chunked_rejection("0\r\nX-A: " + std::string(200, 'x')) == Rejection{0, "incomplete"});  // default limit
}

TEST_CASE("reject 400 'too many trailer fields'") {
  DecodeOptions o;
  o.limits.max_headers = 2;
  CHECK(chunked_rejection("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"sv, o) == Rejection{400, "too many trailer fields"});
  CHECK(decoded("0\r\nA: 1\r\nB: 2\r\n\r\n"sv, o).trailers.size() == 2);
}

TEST_CASE("reject 400 'bare LF (line not ended by CRLF)' in the trailer section") {
  CHECK(chunked_rejection("0\r\nX-A: b\n\r\n"sv) == Rejection{400, "bare LF (line not ended by CRLF)"});
  CHECK(chunked_rejection("0\r\nX-A: b\n\n"sv) == Rejection{400, "bare LF (line not ended by CRLF)"});
}

TEST_CASE("reject 400: the field-line rules of heads apply to trailer fields") {
  auto trailer = [](std::string_view line) { return chunked_rejection(trailer_section(line)); };
  CHECK(trailer("X-A: b\r\n c") == Rejection{400, "obs-fold (line folding)"});
  CHECK(trailer("X-A : b") == Rejection{400, "whitespace before the colon"});
  CHECK(trailer("X-A") == Rejection{400, "field line without a colon"});
  CHECK(trailer(": b") == Rejection{400, "empty field name"});
  CHECK(trailer("X(A): b") == Rejection{400, "invalid character in field name"});
  CHECK(trailer("X-A: \x7f") == Rejection{400, "invalid character in field value"});
  CHECK(trailer("X-A: a\rb") == Rejection{400, "bare CR"});
  CHECK(trailer("X-A: \0"sv) == Rejection{400, "NUL byte"});
  CHECK(trailer("\rX-A: b") == Rejection{400, "bare CR"});
}
