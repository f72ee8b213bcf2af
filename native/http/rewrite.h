// What epoxy changes in the messages it forwards (RFC 9110 §7.6): hop-by-hop fields are
// dropped (Connection and every field it names, Keep-Alive, Proxy-Connection, TE, Upgrade unless
// upgrading, Trailer), X-Forwarded-For / X-Forwarded-Proto are added, Via is added in both
// directions. Framing fields (Content-Length, Transfer-Encoding) pass unchanged because bodies
// are forwarded with their original framing — except towards an HTTP/1.0 client, which gets a
// de-chunked body delimited by the connection's close.
#pragma once

#include <string>
#include <string_view>

#include "parser.h"

namespace epoxy::http {

struct RequestRewrite {
  std::string_view client_ip;
  // Host to send when an HTTP/1.0 request had none (the server's address): we always speak
  // HTTP/1.1 to servers, so their connections can be reused.
  std::string_view fallback_host;
};

// Appends the request head to send to the server (request line + fields + CRLF CRLF).
void write_request_head(const RequestHead& req, const RequestRewrite& rw, std::string& out);

struct ResponseRewrite {
  bool close_client = false;  // the client connection ends after this response
  bool client_http10 = false;
  bool dechunk = false;       // chunked body re-sent as raw data, delimited by close
};

// Appends the response head to send to the client.
void write_response_head(const ResponseHead& resp, const ResponseRewrite& rw, std::string& out);

// A complete response epoxy makes itself (400, 404, 408, 413, 431, 502, 503, 504...): a short
// text body and `Connection: close`.
std::string generated_response(int status, std::string_view detail);

// True when `name` (any case) equals `lower` (lowercase).
bool field_is(std::string_view name, std::string_view lower);

}  // namespace epoxy::http
