#include "client_hello.h"

namespace epoxy::tls {

const char* to_string(HelloStatus s) {
  switch (s) {
    case HelloStatus::NeedMore: return "need-more";
    case HelloStatus::Done: return "done";
    case HelloStatus::NotTls: return "not-tls";
    case HelloStatus::Malformed: return "malformed";
    case HelloStatus::TooLarge: return "too-large";
  }
  return "?";
}

}  // namespace epoxy::tls
