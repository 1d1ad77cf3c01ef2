{
  # Three targets: the C core once, as a static library, linked into two addons:
  #   tokenwire        the core + the Node-API binding (node/src): what require('tokenwire') loads
  #   tokenwire_tools  the mock LLM server and the `tokenwire` command line (tools/, node/tools):
  #                    loaded only by the tests, the benchmarks and `npx tokenwire`
  # The version is package.json's. Warnings are errors only with TW_WERROR=1 (tests, CI).
  "variables": {
    "tw_version": "<!(node -p \"require('./package.json').version\")",
    "tw_werror%": "<!(node -p \"process.env.TW_WERROR === '1' ? 1 : 0\")"
  },
  "target_defaults": {
    "include_dirs": ["csrc", "tools", "node/src"],
    "defines": ["_GNU_SOURCE", "TW_STATIC", "TW_VERSION_STRING=\"<(tw_version)\""],
    "cflags": ["-fPIC", "-fvisibility=hidden", "-pthread", "<!@(pkg-config --cflags libcurl simdjson hiredis)"],
    "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-O2"],
    "cflags_cc": ["-std=c++17", "-fno-exceptions", "-O2"],
    "cflags!": ["-fno-omit-frame-pointer"],
    "cflags_cc!": ["-std=gnu++17", "-std=gnu++20", "-fno-rtti"],
    "conditions": [
      ["tw_werror==1", {"cflags": ["-Werror"]}]
    ],
    "xcode_settings": {
      "OTHER_CFLAGS": ["-std=c11", "-fvisibility=hidden", "<!@(pkg-config --cflags libcurl simdjson hiredis)"],
      "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-fno-exceptions", "-fvisibility=hidden"],
      "MACOSX_DEPLOYMENT_TARGET": "11.0"
    }
  },
  "targets": [
    {
      "target_name": "twcore",
      "type": "static_library",
      "sources": ["<!@(node node/gyp-sources.js core)"]
    },
    {
      "target_name": "tokenwire",
      "dependencies": ["twcore"],
      "sources": ["<!@(node node/gyp-sources.js addon)"],
      "ldflags": ["-Wl,--exclude-libs,ALL"],
      "libraries": ["<!@(pkg-config --libs libcurl simdjson hiredis)", "-lpthread", "-lm"]
    },
    {
      "target_name": "tokenwire_tools",
      "dependencies": ["twcore"],
      "sources": ["<!@(node node/gyp-sources.js tools)"],
      "ldflags": ["-Wl,--exclude-libs,ALL"],
      "libraries": ["<!@(pkg-config --libs libcurl simdjson hiredis)", "-lpthread", "-lm"]
    }
  ]
}
