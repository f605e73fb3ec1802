{
  "targets": [
    {
      "target_name": "tome_attention",
      "sources": ["attention.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-exceptions", "-Wno-maybe-uninitialized"],
      "cflags_cc!": ["-fno-rtti", "-std=gnu++17"]
    }
  ]
}
