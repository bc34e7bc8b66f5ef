{
  # Paths come from scripts/build-native.mjs through the environment (TORCH_INCLUDE_DIRS, TORCH_LIB_DIR),
  # defaulting to Debian's libtorch-dev locations. TORCH_DIST_DEFINES: the c10d backends distributed.cc
  # compiles (REGNET_C10D_GLOO when Gloo's headers are there, REGNET_C10D_NCCL for a CUDA libtorch).
  "targets": [
    {
      "target_name": "torch_addon",
      "sources": ["torch_addon.cc", "distributed.cc", "amp.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node -p \"process.env.TORCH_INCLUDE_DIRS || '/usr/include /usr/include/torch/csrc/api/include'\")"
      ],
      "defines": [
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_ADDON_API_CPP_EXCEPTIONS_ALL",
        "NAPI_VERSION=8",
        "<!(node -p \"'_GLIBCXX_USE_CXX11_ABI=' + (process.env.TORCH_CXX11_ABI || '1')\")",
        "<!@(node -p \"process.env.TORCH_DIST_DEFINES || ''\")"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++14"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter"],
      "libraries": [
        "-L<!(node -p \"process.env.TORCH_LIB_DIR || '/usr/lib/x86_64-linux-gnu'\")",
        "-Wl,--no-as-needed",
        "<!@(node -p \"process.env.TORCH_EXTRA_LIBS || ''\")",
        "-ltorch",
        "-ltorch_cpu",
        "-lc10",
        "-Wl,-rpath,<!(node -p \"process.env.TORCH_LIB_DIR || '/usr/lib/x86_64-linux-gnu'\")"
      ]
    }
  ]
}
