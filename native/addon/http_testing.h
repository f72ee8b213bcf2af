// exports.httpTesting: native/http's parser and chunked decoder, callable from JS for the
// tests only (test/http-parser.test.ts, test/http-differential.test.ts; typed in
// src/native-testing.ts). Not part of the public API.
#pragma once

#include <napi.h>

namespace epoxy {

void register_http_testing(Napi::Env env, Napi::Object exports);

}  // namespace epoxy
