// Test-only: FUZZ_CHECK, the check the libFuzzer harnesses (native/*/fuzz/) make of what an API
// promises, beyond "no crash, no sanitizer report".
//
// It aborts rather than asserts: assert() is compiled out under NDEBUG, so a harness built in
// release mode would check nothing, while std::abort() always ends the run with SIGABRT, which
// libFuzzer reports as a crash and keeps the input for (in .fuzz-out/, see scripts/fuzz.sh).
// Before aborting it prints "<harness>: check failed: <cond> (line N)", the harness being the
// file's name without its directory and extension (fuzz_parser.cc: "fuzz_parser").
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace epoxy::testing {

[[noreturn]] inline void fuzz_check_failed(std::string_view file, const char* cond, int line) {
  size_t slash = file.find_last_of('/');
  if (slash != std::string_view::npos) file.remove_prefix(slash + 1);
  file = file.substr(0, file.find('.'));
  std::fprintf(stderr, "%.*s: check failed: %s (line %d)\n", static_cast<int>(file.size()), file.data(), cond,
               line);
  std::abort();
}

}  // namespace epoxy::testing

#define FUZZ_CHECK(cond)                                                         \
  do {                                                                           \
    if (!(cond)) ::epoxy::testing::fuzz_check_failed(__FILE__, #cond, __LINE__); \
  } while (0)
