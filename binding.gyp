# Fallback build for node-gyp and prebuildify: the CPU engine, with the no-CUDA entry of the
# backend registry (the CUDA backend builds through CMakeLists.txt). Sources come from the same
# list as the CMake build.
{
  "targets": [
    {
      "target_name": "microadam_native",
      "sources": ["<!@(node scripts/list-sources.js cpu)", "<!@(node scripts/list-sources.js no-cuda)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "csrc"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-O3", "-fexceptions", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
        "OTHER_CPLUSPLUSFLAGS": ["-ffp-contract=off"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/std:c++20", "/fp:precise"] }
      }
    }
  ]
}
