// Forwarding a chunked body through a ChunkedDecoder: data and framing go out as they came,
// the trailer section loses the fields a proxy must not forward, and towards an HTTP/1.0
// client only the data goes out (the body is then delimited by the connection's close).
#pragma once

#include <string>
#include <string_view>

#include "../http/chunked.h"

namespace epoxy {

// Appends to `out` what must be forwarded of `in`; returns the bytes of `in` consumed (the rest
// must be offered again with more bytes), or -1 when the framing is invalid. `done` is set once
// the final CRLF after the trailer section was consumed.
inline long forward_chunks(http::ChunkedDecoder& d, std::string_view in, std::string& out, bool dechunk, bool& done) {
  size_t used = 0;
  done = false;
  for (;;) {
    http::ChunkedStep st = d.feed(in.substr(used));
    std::string_view part = in.substr(used, st.consumed);
    switch (st.kind) {
      case http::ChunkedKind::NeedMore:
        return static_cast<long>(used);
      case http::ChunkedKind::Data:
        out.append(part);
        break;
      case http::ChunkedKind::Meta:
        if (!dechunk) out.append(part);
        break;
      case http::ChunkedKind::Trailers:
        if (dechunk) break;
        if (d.forbidden_trailers() == 0) {
          out.append(part);
        } else {
          d.append_allowed_trailers(out);
        }
        break;
      case http::ChunkedKind::Done:
        done = true;
        return static_cast<long>(used);
      case http::ChunkedKind::Error:
        return -1;
    }
    used += st.consumed;
  }
}

}  // namespace epoxy
