// The one main() of every native test binary (test_core, test_io, ...): doctest's own runner,
// so each binary takes doctest's flags (-tc="name", -s, --list-test-cases) and ctest can list
// and run single cases.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
