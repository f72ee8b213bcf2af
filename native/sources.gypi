# The engine's sources, one list for every build: binding.gyp (the addon users build) and
# CMakeLists.txt (native-only targets: tests, fuzzers, sanitizer builds) both read it.
{
  'variables': {
    'epoxy_engine_sources': [
      'native/net/address.cc',
      'native/net/socket.cc',
      'native/net/cidr.cc',
      'native/lb/ring.cc',
      'native/io/pipe_pool.cc',
      'native/io/channel.cc',
      'native/http/parser.cc',
      'native/http/chunked.cc',
      'native/http/rewrite.cc',
      'native/tls/client_hello.cc',
      'native/proxyproto/proxy_protocol.cc',
      'native/engine/engine.cc',
      'native/engine/accept.cc',
      'native/engine/group.cc',
      'native/engine/conns.cc',
      'native/engine/http_session.cc',
      'native/engine/http_upstream.cc',
      'native/engine/http_response.cc',
      'native/engine/http_endings.cc',
      'native/engine/apply.cc',
      'native/engine/host_map.cc',
      'native/engine/session.cc',
      'native/engine/preface.cc',
      'native/engine/tcp_session.cc',
      'native/engine/stats.cc',
      'native/engine/servers.cc',
    ],
  },
}
