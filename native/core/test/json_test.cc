// JsonWriter: commas in the right places however records nest, numbers of every width, and
// strings escaped so that any byte the engine hands over (header values, addresses) stays valid
// JSON for JSON.parse on the other side.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "core/json.h"

using epoxy::JsonWriter;

TEST_CASE("json: an object of fields is comma separated") {
  JsonWriter w;
  w.begin_object().field("a", 1).field("b", "x").field("c", true).end_object();
  CHECK(w.take() == R"({"a":1,"b":"x","c":true})");
}

TEST_CASE("json: empty containers and nesting put no stray commas") {
  JsonWriter w;
  w.begin_object();
  w.key("empty").begin_object().end_object();
  w.key("list").begin_array().end_array();
  w.key("inner").begin_object().field("x", 1).end_object();
  w.field("after", 2);
  w.end_object();
  CHECK(w.take() == R"({"empty":{},"list":[],"inner":{"x":1},"after":2})");
}

TEST_CASE("json: arrays of values and of objects") {
  JsonWriter w;
  w.begin_array().value(1).value("two").value(false).end_array();
  CHECK(w.take() == R"([1,"two",false])");

  JsonWriter objects;
  objects.begin_array();
  for (int i = 0; i < 3; ++i) objects.begin_object().field("i", i).end_object();
  objects.end_array();
  CHECK(objects.take() == R"([{"i":0},{"i":1},{"i":2}])");
}

TEST_CASE("json: numbers of every width keep their value") {
  JsonWriter w;
  w.begin_array()
      .value(std::numeric_limits<uint64_t>::max())
      .value(std::numeric_limits<int64_t>::min())
      .value(uint32_t{4000000000u})
      .value(-5)
      .value(0)
      .end_array();
  CHECK(w.take() == "[18446744073709551615,-9223372036854775808,4000000000,-5,0]");
}

TEST_CASE("json: quotes, backslashes and control bytes are escaped and other bytes pass through") {
  JsonWriter w;
  std::string nasty = "a\"b\\c\n\t";
  nasty += '\0';
  nasty += '\x1f';
  nasty += "\x7f\xc3\xa9";  // DEL and UTF-8 need no escaping
  w.value(nasty);
  CHECK(w.take() == "\"a\\\"b\\\\c\\u000a\\u0009\\u0000\\u001f\x7f\xc3\xa9\"");
}

TEST_CASE("json: keys are escaped like values") {
  JsonWriter w;
  w.begin_object().field("we\"ird\x01", 1).end_object();
  CHECK(w.take() == R"({"we\"ird\u0001":1})");
}
