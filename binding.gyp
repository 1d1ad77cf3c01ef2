{
  "targets": [
    {
      "target_name": "tokenwire",
      "sources": ["<!@(node node/gyp-sources.js)"],
      "include_dirs": ["csrc", "node/src"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-fvisibility=hidden", "-pthread", "<!@(pkg-config --cflags libcurl simdjson)"],
      "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-O2"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-O2"],
      "cflags!": ["-fno-omit-frame-pointer"],
      "cflags_cc!": ["-std=gnu++17", "-std=gnu++20", "-fno-rtti"],
      "libraries": ["<!@(pkg-config --libs libcurl simdjson)", "-lpthread", "-lm"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-std=c11", "<!@(pkg-config --cflags libcurl simdjson)"],
        "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-fno-exceptions"],
        "MACOSX_DEPLOYMENT_TARGET": "11.0"
      }
    }
  ]
}
