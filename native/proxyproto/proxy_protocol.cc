#include "proxy_protocol.h"

namespace epoxy::proxyproto {

const char* to_string(ParseStatus s) {
  switch (s) {
    case ParseStatus::NeedMore: return "need-more";
    case ParseStatus::Done: return "done";
    case ParseStatus::Invalid: return "invalid";
    case ParseStatus::TooLarge: return "too-large";
  }
  return "?";
}

}  // namespace epoxy::proxyproto
