# The users' build (npm install → node-gyp). Developer builds (cmake-js, sanitizers, native
# tests, fuzzers) are CMakeLists.txt; both take the engine's sources from native/sources.gypi.
{
  'includes': ['native/sources.gypi'],
  'targets': [
    {
      'target_name': 'epoxy',
      'sources': ['<@(epoxy_engine_sources)', 'native/addon/addon.cc', 'native/addon/convert.cc', 'native/addon/hash_ring.cc'],
      'dependencies': ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
      'defines': ['NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS', 'NAPI_VERSION=8'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions', '-std=gnu++17'],
      'cflags': ['-Wall', '-Wextra', '-Werror', '-O2'],
      'cflags_cc': ['-std=c++20', '-fno-exceptions', '-Wall', '-Wextra', '-Werror'],
      'ldflags': ['-pthread'],
    },
  ],
}
