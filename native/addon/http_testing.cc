// epoxy_testing.node, a test-only addon (CMakeLists.txt, never in the addon users load):
// exports.httpTesting, whose functions run native/http on a Buffer and answer a plain JS
// object, for test/http-differential.test.ts to compare with Node's llhttp. Field bytes cross as latin1 (one byte, one UTF-16 unit), which is how
// node:http presents them, so the differential test compares obs-text byte for byte.
#include <napi.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "../http/chunked.h"
#include "../http/parser.h"

namespace epoxy {
namespace {

Napi::String latin1(Napi::Env env, std::string_view s) {
  std::u16string u(s.size(), u'\0');
  for (size_t i = 0; i < s.size(); ++i) u[i] = static_cast<unsigned char>(s[i]);
  return Napi::String::New(env, u);
}

bool read_buffer(const Napi::CallbackInfo& info, std::string_view& out) {
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    Napi::TypeError::New(info.Env(), "httpTesting: the first argument must be a Buffer").ThrowAsJavaScriptException();
    return false;
  }
  auto b = info[0].As<Napi::Buffer<char>>();
  out = std::string_view(b.Data(), b.Length());
  return true;
}

// A numeric option of the object in argument `index`, or `fallback`.
size_t option(const Napi::CallbackInfo& info, size_t index, const char* key, size_t fallback) {
  if (info.Length() <= index || !info[index].IsObject()) return fallback;
  Napi::Value v = info[index].As<Napi::Object>().Get(key);
  return v.IsNumber() ? static_cast<size_t>(v.As<Napi::Number>().Int64Value()) : fallback;
}

bool flag(const Napi::CallbackInfo& info, size_t index, const char* key) {
  if (info.Length() <= index || !info[index].IsObject()) return false;
  return info[index].As<Napi::Object>().Get(key).ToBoolean().Value();
}

http::Limits read_limits(const Napi::CallbackInfo& info, size_t index) {
  http::Limits l;
  l.max_head = option(info, index, "maxHead", l.max_head);
  l.max_headers = option(info, index, "maxHeaders", l.max_headers);
  return l;
}

const char* framing_name(http::Framing f) {
  switch (f) {
    case http::Framing::None: return "none";
    case http::Framing::ContentLength: return "content-length";
    case http::Framing::Chunked: return "chunked";
    case http::Framing::UntilClose: return "until-close";
  }
  return "?";
}

// Exact when it fits a double's integer range, a decimal string otherwise.
Napi::Value length_to_js(Napi::Env env, uint64_t n) {
  if (n <= 9007199254740991ULL) return Napi::Number::New(env, static_cast<double>(n));
  return Napi::String::New(env, std::to_string(n));
}

Napi::Array headers_to_js(Napi::Env env, const std::vector<http::Header>& hs) {
  Napi::Array arr = Napi::Array::New(env, hs.size());
  for (size_t i = 0; i < hs.size(); ++i) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, latin1(env, hs[i].name));
    pair.Set(1u, latin1(env, hs[i].value));
    arr.Set(static_cast<uint32_t>(i), pair);
  }
  return arr;
}

Napi::Object error_to_js(Napi::Env env, const http::ParseError& err) {
  Napi::Object e = Napi::Object::New(env);
  e.Set("status", err.status);
  e.Set("reason", err.reason);
  return e;
}

Napi::Object result_object(Napi::Env env, http::ParseStatus st, const http::ParseError& err) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("status", st == http::ParseStatus::Done ? "done" : st == http::ParseStatus::Incomplete ? "incomplete" : "error");
  if (st == http::ParseStatus::Error) o.Set("error", error_to_js(env, err));
  return o;
}

// parseRequest(buf, {maxHead?, maxHeaders?})
Napi::Value ParseRequest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string_view data;
  if (!read_buffer(info, data)) return env.Undefined();
  http::RequestHead head;
  http::ParseError err;
  http::ParseStatus st = http::parse_request(data, read_limits(info, 1), head, err);
  Napi::Object o = result_object(env, st, err);
  if (st != http::ParseStatus::Done) return o;
  o.Set("method", latin1(env, head.method));
  o.Set("target", latin1(env, head.target));
  o.Set("minor", head.minor);
  o.Set("headers", headers_to_js(env, head.headers));
  o.Set("headLen", Napi::Number::New(env, static_cast<double>(head.head_len)));
  o.Set("framing", framing_name(head.framing));
  o.Set("contentLength", length_to_js(env, head.content_length));
  o.Set("keepAlive", head.keep_alive);
  o.Set("expectContinue", head.expect_continue);
  o.Set("upgrade", head.upgrade);
  o.Set("host", latin1(env, head.host));
  return o;
}

// parseResponse(buf, requestMethod, {maxHead?, maxHeaders?})
Napi::Value ParseResponse(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string_view data;
  if (!read_buffer(info, data)) return env.Undefined();
  std::string method = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "GET";
  http::ResponseHead head;
  http::ParseError err;
  http::ParseStatus st = http::parse_response(data, method, read_limits(info, 2), head, err);
  Napi::Object o = result_object(env, st, err);
  if (st != http::ParseStatus::Done) return o;
  o.Set("minor", head.minor);
  o.Set("statusCode", head.status);
  o.Set("reason", latin1(env, head.reason));
  o.Set("headers", headers_to_js(env, head.headers));
  o.Set("headLen", Napi::Number::New(env, static_cast<double>(head.head_len)));
  o.Set("framing", framing_name(head.framing));
  o.Set("contentLength", length_to_js(env, head.content_length));
  o.Set("keepAlive", head.keep_alive);
  o.Set("upgrade", head.upgrade);
  o.Set("tunnel", head.tunnel);
  return o;
}

const char* kind_name(http::ChunkedKind k) {
  switch (k) {
    case http::ChunkedKind::NeedMore: return "need-more";
    case http::ChunkedKind::Data: return "data";
    case http::ChunkedKind::Meta: return "meta";
    case http::ChunkedKind::Trailers: return "trailers";
    case http::ChunkedKind::Done: return "done";
    case http::ChunkedKind::Error: return "error";
  }
  return "?";
}

// decodeChunked(buf, {pieceSize?, splice?, maxHead?, maxHeaders?}): plays a session that
// receives `buf` in pieces, keeps unconsumed bytes at the front of its buffer, and (with
// `splice`) moves chunk data itself through skip_data().
Napi::Value DecodeChunked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string_view input;
  if (!read_buffer(info, input)) return env.Undefined();
  size_t piece = std::max<size_t>(1, option(info, 1, "pieceSize", input.size()));
  bool splice = flag(info, 1, "splice");
  http::ChunkedDecoder decoder(read_limits(info, 1));

  std::string pending;
  std::string data;
  std::string forwarded_trailers;
  std::vector<http::Header> trailers;
  std::vector<std::string> trailer_bytes;  // owns copies: the views die with `pending`
  Napi::Array steps = Napi::Array::New(env);
  size_t offset = 0;
  size_t consumed = 0;
  const char* status = "incomplete";
  bool finished = false;
  while (!finished) {
    if (splice && decoder.data_left() > 0 && !pending.empty()) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(decoder.data_left(), pending.size()));
      data.append(pending, 0, n);
      pending.erase(0, n);
      consumed += n;
      decoder.skip_data(n);
      steps.Set(steps.Length(), "spliced");
      continue;
    }
    http::ChunkedStep step = decoder.feed(pending);
    if (step.kind != http::ChunkedKind::NeedMore) steps.Set(steps.Length(), kind_name(step.kind));
    switch (step.kind) {
      case http::ChunkedKind::NeedMore:
        if (offset >= input.size()) {
          finished = true;
        } else {
          pending.append(input.substr(offset, piece));
          offset += piece;
        }
        continue;
      case http::ChunkedKind::Data:
        data.append(pending, 0, step.consumed);
        break;
      case http::ChunkedKind::Meta:
        break;
      case http::ChunkedKind::Trailers:
        for (const http::Header& h : decoder.trailers()) {
          trailer_bytes.emplace_back(h.name);
          trailer_bytes.emplace_back(h.value);
        }
        decoder.append_allowed_trailers(forwarded_trailers);
        break;
      case http::ChunkedKind::Done:
        status = "done";
        finished = true;
        break;
      case http::ChunkedKind::Error:
        status = "error";
        finished = true;
        break;
    }
    pending.erase(0, step.consumed);
    consumed += step.consumed;
  }

  Napi::Object o = Napi::Object::New(env);
  o.Set("status", status);
  if (decoder.failed()) o.Set("error", error_to_js(env, decoder.error()));
  o.Set("data", Napi::Buffer<char>::Copy(env, data.data(), data.size()));
  o.Set("consumed", Napi::Number::New(env, static_cast<double>(consumed)));
  Napi::Array tr = Napi::Array::New(env, trailer_bytes.size() / 2);
  for (size_t i = 0; i + 1 < trailer_bytes.size(); i += 2) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, latin1(env, trailer_bytes[i]));
    pair.Set(1u, latin1(env, trailer_bytes[i + 1]));
    tr.Set(static_cast<uint32_t>(i / 2), pair);
  }
  o.Set("trailers", tr);
  o.Set("forbiddenTrailers", Napi::Number::New(env, static_cast<double>(decoder.forbidden_trailers())));
  o.Set("forwardedTrailers", latin1(env, forwarded_trailers));
  o.Set("steps", steps);
  return o;
}

// findHeadEnd(buf, pieceSize): find_head_end called as bytes arrive `pieceSize` at a time.
Napi::Value FindHeadEnd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string_view data;
  if (!read_buffer(info, data)) return env.Undefined();
  size_t piece = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : data.size();
  piece = std::max<size_t>(piece, 1);
  size_t scan = 0;
  size_t end = 0;
  size_t arrived = 0;
  uint32_t calls = 0;
  while (arrived < data.size() && end == 0) {
    arrived = std::min(data.size(), arrived + piece);
    end = http::find_head_end(data.substr(0, arrived), scan);
    ++calls;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("end", Napi::Number::New(env, static_cast<double>(end)));
  o.Set("calls", calls);
  o.Set("arrived", Napi::Number::New(env, static_cast<double>(arrived)));
  return o;
}

Napi::Value NormalizeHost(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "httpTesting.normalizeHost: a string is required").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // latin1 in, so a test can pass any byte (bytes above 0x7f must be rejected).
  std::u16string u = info[0].As<Napi::String>().Utf16Value();
  std::string bytes(u.size(), '\0');
  for (size_t i = 0; i < u.size(); ++i) bytes[i] = static_cast<char>(u[i] > 0xff ? 0xff : u[i]);
  return latin1(env, http::normalize_host(bytes));
}

}  // namespace
}  // namespace epoxy

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Object t = Napi::Object::New(env);
  t.Set("parseRequest", Napi::Function::New(env, epoxy::ParseRequest, "parseRequest"));
  t.Set("parseResponse", Napi::Function::New(env, epoxy::ParseResponse, "parseResponse"));
  t.Set("decodeChunked", Napi::Function::New(env, epoxy::DecodeChunked, "decodeChunked"));
  t.Set("findHeadEnd", Napi::Function::New(env, epoxy::FindHeadEnd, "findHeadEnd"));
  t.Set("normalizeHost", Napi::Function::New(env, epoxy::NormalizeHost, "normalizeHost"));
  exports.Set("httpTesting", t);
  return exports;
}

NODE_API_MODULE(epoxy_testing, Init)
