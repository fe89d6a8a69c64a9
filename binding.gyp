{
  "targets": [
    {
      "target_name": "reaper",
      "sources": ["native/reaper.c"],
      "cflags": ["-O2", "-Wall"]
    },
    {
      "target_name": "fdutil",
      "sources": ["native/fdutil.c"],
      "cflags": ["-O2", "-Wall"]
    },
    {
      "target_name": "line_fast",
      "sources": ["native/line-fast.c", "native/line-contract.h"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
