{
  'includes': ['native/sources.gypi'],
  'variables': {
    # `node-gyp rebuild --epoxy_sanitize=1` (scripts/test-asan.sh) builds with ASan + UBSan.
    'epoxy_sanitize%': 0,
  },
  'targets': [
    {
      'target_name': 'epoxy',
      'sources': ['<@(epoxy_engine_sources)', 'native/addon/addon.cc', 'native/addon/convert.cc', 'native/addon/hash_ring.cc', 'native/addon/http_testing.cc'],
      'dependencies': ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
      'defines': ['NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS', 'NAPI_VERSION=8'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions', '-std=gnu++17'],
      'cflags': ['-Wall', '-Wextra', '-Werror', '-O2'],
      'cflags_cc': ['-std=c++20', '-fno-exceptions', '-Wall', '-Wextra', '-Werror'],
      'ldflags': ['-pthread'],
      'conditions': [
        ['epoxy_sanitize==1', {
          'cflags': ['-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-g', '-O1'],
          'ldflags': ['-fsanitize=address,undefined'],
        }],
      ],
    },
  ],
}
