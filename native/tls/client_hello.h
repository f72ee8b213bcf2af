// Reading a TLS ClientHello without terminating TLS (haproxy's req.ssl_sni, nginx's
// ssl_preread): just enough of the client's first bytes to learn the SNI name and the ALPN
// protocols it offers, so a TCP listener can route by them and then splice the bytes unchanged.
//
// The reader is incremental: feed() takes the bytes in the order they arrive, in pieces of any
// size (one byte per segment, a hello split over several TLS records), and does O(n) work over
// all of them; it never needs bytes it was already given. It copies only the handshake
// message's bytes (bounded below); the caller keeps the raw bytes to forward them.
//
// Bounds, so a client can neither hang nor grow memory: the ClientHello handshake message may
// be up to kMaxHelloBytes (post-quantum key shares make hellos of several KiB); the records
// carrying it up to kMaxInputBytes in all, record headers included. Past either → TooLarge:
// the hello's announced length is judged as soon as its 4-byte header is in (byte 9 of a
// single-record hello), the input bound when byte kMaxInputBytes + 1 arrives without a verdict.
// Records: content type 22 only (the first byte not 22 → NotTls, a later record not 22 →
// Malformed), version 3.0..3.4, length 1..2^14. Bytes after the hello are never looked at.
// Of the extensions only server_name and ALPN are read, and only they are refused when repeated.
// No dependency on N-API or the rest of the engine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace epoxy::tls {

constexpr size_t kMaxHelloBytes = 16384;   // the handshake message, its 4-byte header included
constexpr size_t kMaxInputBytes = 24576;   // everything fed before the verdict
constexpr size_t kMaxAlpn = 16;            // protocols kept from the ALPN extension (the rest ignored)

enum class HelloStatus : uint8_t {
  NeedMore,   // so far a valid prefix of a ClientHello: feed more
  Done,       // a whole ClientHello: see ClientHello (SNI may be absent)
  NotTls,     // the first bytes are not a TLS handshake record (plain text, SSLv2 hello, ...)
  Malformed,  // a TLS handshake record, but lengths or fields are inconsistent
  TooLarge,   // over kMaxHelloBytes / kMaxInputBytes
};

const char* to_string(HelloStatus s);

struct ClientHello {
  bool has_sni = false;
  // The host_name of the server_name extension, lowercased, one trailing dot removed;
  // only letters, digits, '-', '_' and '.' are accepted (anything else is Malformed), and
  // 1..253 of them once the dot is gone (".", "a.." and 254 without a dot are Malformed too).
  // The first host_name of the extension's list is taken.
  std::string sni;
  std::vector<std::string> alpn;  // as offered, in order (at most kMaxAlpn)
};

class ClientHelloReader {
 public:
  // Feeds the next `n` bytes. Once the status is not NeedMore it stays as it is and further
  // feeds are ignored.
  HelloStatus feed(const uint8_t* data, size_t n);
  HelloStatus status() const { return status_; }
  // Valid when status() == Done (left empty by every other verdict).
  const ClientHello& hello() const { return hello_; }
  // Bytes fed so far (counted up to the verdict): every byte of every feed up to and including
  // the one that produced the verdict, bytes after the end of the hello in that feed too; feeds
  // after the verdict are not counted. So it depends on how the input was split; the verdict
  // itself does not (it is decided at a byte position, whatever the split).
  size_t consumed() const { return consumed_; }

 private:
  // step() takes some of the n bytes ahead (at least one), sets status_ and returns how many it
  // took; the others return the status after the bytes they are given.
  size_t step(const uint8_t* p, size_t n);
  HelloStatus record_header_byte(uint8_t b);
  HelloStatus message_header_byte(uint8_t b);
  HelloStatus message_bytes(const uint8_t* p, size_t n);
  HelloStatus parse_message();  // once the whole handshake message is in msg_

  HelloStatus status_ = HelloStatus::NeedMore;
  ClientHello hello_;
  size_t consumed_ = 0;
  uint8_t rec_hdr_[5] = {};  // the record header being read
  size_t rec_hdr_len_ = 0;
  size_t rec_left_ = 0;      // payload bytes left in the current record; 0: reading a header
  std::vector<uint8_t> msg_;  // handshake message bytes gathered so far (at most kMaxHelloBytes)
  size_t msg_total_ = 0;     // 4 + its length, once the 4-byte handshake header is in
};

}  // namespace epoxy::tls
